"""Dismissals and their members in the admin."""

import re

import pytest
from django.urls import reverse

from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.openim import body

from ..conftest import event_page
from ..factories import (
    DISMISS,
    DismissedGroupFactory,
    DismissedGroupMemberFactory,
)

pytestmark = pytest.mark.django_db

DISMISSALS = reverse("admin:django_imcallback_dismissedgroup_changelist")


def listed_groups(response):
    return sorted(obj.group_id for obj in response.context["cl"].result_list)


def test_dismissal_list_shows_group_owner_and_member_count(admin_client):
    DismissedGroupFactory(group_id="g-list", owner_id="o-list", member_count=42)

    response = admin_client.get(DISMISSALS)

    assert response.status_code == 200
    content = response.content.decode()
    assert "g-list" in content
    assert "o-list" in content
    assert "42" in content


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("g-2", ["g-2"]),
        ("owner-1", ["g-1"]),
        ("member-x", ["g-1", "g-2"]),
        ("member", []),
    ],
)
def test_dismissals_are_searchable_by_group_owner_and_member(admin_client, term, expected):
    one = DismissedGroupFactory(group_id="g-1", owner_id="owner-1")
    two = DismissedGroupFactory(group_id="g-2", owner_id="owner-2")
    DismissedGroupMemberFactory(dismissal=one, user_id="member-x")
    DismissedGroupMemberFactory(dismissal=two, user_id="member-x")
    DismissedGroupMemberFactory(dismissal=two, user_id="member-y")
    DismissedGroupFactory(group_id="g-3")

    response = admin_client.get(DISMISSALS, {"q": term})

    assert listed_groups(response) == expected


def test_dismissal_page_shows_a_bounded_member_preview(admin_client):
    dismissal = DismissedGroupFactory(member_count=250)
    for i in range(250):
        DismissedGroupMemberFactory(dismissal=dismissal, user_id=f"m{i:03d}")

    response = admin_client.get(
        reverse("admin:django_imcallback_dismissedgroup_change", args=[dismissal.pk])
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert "m000" in content
    assert "m199" in content
    assert "m200" not in content
    assert "and 50 more" in content
    assert f"dismissal__id__exact={dismissal.pk}" in content


def test_member_list_filtered_by_dismissal_lists_all_members(admin_client):
    dismissal = DismissedGroupFactory()
    for i in range(3):
        DismissedGroupMemberFactory(dismissal=dismissal, user_id=f"m{i}")
    DismissedGroupMemberFactory(user_id="elsewhere")

    response = admin_client.get(
        reverse("admin:django_imcallback_dismissedgroupmember_changelist"),
        {"dismissal__id__exact": dismissal.pk},
    )

    assert sorted(m.user_id for m in response.context["cl"].result_list) == ["m0", "m1", "m2"]


def test_dismissal_list_query_count_is_constant(admin_client, django_assert_max_num_queries):
    for _ in range(40):
        DismissedGroupFactory()

    with django_assert_max_num_queries(8):
        assert admin_client.get(DISMISSALS).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_dismissal_and_its_group_list_every_delivery_about_them(admin_client, dismissal_twice):
    dismissal = DismissedGroup.objects.get(group_id="g-ops")
    page = admin_client.get(
        reverse("admin:django_imcallback_dismissedgroup_change", args=[dismissal.pk])
    ).content.decode()

    for event in dismissal_twice:
        assert event_page(event) in page
    assert "duplicate" in page
    assert "invalid" in page
    other = CallbackEvent.objects.get(group_id="g-other")
    assert event_page(other) not in page


@pytest.mark.django_db(transaction=True)
def test_dismissals_show_how_their_delivery_ended_and_filter_by_it(
    admin_client, post, failing_receiver
):
    post(body(DISMISS, group_id="g-bad", user_ids=["u"]))
    failing_receiver.fixed = True
    post(body(DISMISS, group_id="g-good", user_ids=["u"]), operation_id="2")

    failed = admin_client.get(DISMISSALS, {"event__status": "failed"})
    assert [d.group_id for d in failed.context["cl"].result_list] == ["g-bad"]
    response = admin_client.get(DISMISSALS)
    assert response.context["cl"].date_hierarchy == "received_at"
    rows = re.findall(r"<tr>.*?</tr>", response.content.decode(), re.S)
    [bad] = [row for row in rows if "g-bad" in row]
    [good] = [row for row in rows if "g-good" in row]
    assert ">failed</span>" in bad
    assert ">processed</span>" in good
