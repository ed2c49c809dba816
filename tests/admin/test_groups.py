"""The mirror of groups in the admin."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from django_imcallback.models import (
    CallbackEvent,
    DismissedGroup,
    IMGroup,
    IMGroupMember,
)
from django_imcallback.openim import body
from django_imcallback.testing import deliver

from ..conftest import event_page, send
from ..factories import DISMISS

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "callbackAfterCreateGroupCommand"


JOIN = "callbackAfterJoinGroupCommand"


QUIT = "callbackAfterQuitGroupCommand"


def run(*args):
    call_command("imcallback_sync", *args)


@pytest.mark.parametrize(
    ("term", "found"),
    [("G1", "G1"), ("c", "G1"), ("gone", "G1"), ("owner", "G1"), ("lone-owner", "G3")],
)
def test_groups_are_found_by_group_owner_and_member_current_or_former(
    admin_client, post, term, found
):
    send(post, CREATE, users=["c", "gone"])
    send(post, QUIT, users=["gone"])
    send(post, CREATE, "other", users=["x"], owner="someone")
    IMGroup.objects.create(group_id="G3", owner_id="lone-owner")  # an owner with no member row

    response = admin_client.get("/admin/django_imcallback/imgroup/", {"q": term})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [IMGroup.objects.get(group_id=found)]


def test_a_groups_page_shows_members_former_members_events_and_its_dismissal(admin_client, post):
    created = send(post, CREATE, users=["stays"])
    quit_event = send(post, JOIN, users=["leaves"])
    send(post, QUIT, users=["leaves"])
    send(post, DISMISS, users=[], membersID=None)
    group = IMGroup.objects.get()

    page = admin_client.get(f"/admin/django_imcallback/imgroup/{group.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    fields = page.context["adminform"].form.instance
    assert fields == group
    current = page.context["adminform"].model_admin.current_members(group)
    former = page.context["adminform"].model_admin.former_members(group)
    assert "stays (20)" in current
    assert "leaves" not in current
    assert "leaves (quit)" in former
    for event in (created, quit_event):
        assert f"/admin/django_imcallback/callbackevent/{event.pk}/change/" in text
    dismissal = DismissedGroup.objects.get()
    assert f"/admin/django_imcallback/dismissedgroup/{dismissal.pk}/change/" in text

    dismissal_page = admin_client.get(
        f"/admin/django_imcallback/dismissedgroup/{dismissal.pk}/change/"
    )
    assert f"/admin/django_imcallback/imgroup/{group.pk}/change/" in dismissal_page.content.decode()
    assert "the mirror" in dismissal_page.content.decode()


@pytest.mark.parametrize("model", ["imgroup", "imgroupmember"])
def test_the_mirror_is_read_only_in_the_admin(admin_client, post, model):
    send(post, CREATE, users=["a"])
    obj = (IMGroup if model == "imgroup" else IMGroupMember).objects.first()

    assert admin_client.get(f"/admin/django_imcallback/{model}/add/").status_code == 403
    page = admin_client.get(f"/admin/django_imcallback/{model}/{obj.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content


def test_a_groups_page_lists_its_deliveries(admin_client, post):
    create, quit = "callbackAfterCreateGroupCommand", "callbackAfterQuitGroupCommand"
    post(body(create, group_id="g-m", user_ids=["ann"]), command=create)
    post(body(quit, group_id="g-m", user_ids=["ann"]), command=quit, operation_id="2")
    group = IMGroup.objects.get(group_id="g-m")

    page = admin_client.get(
        reverse("admin:django_imcallback_imgroup_change", args=[group.pk])
    ).content.decode()

    for event in CallbackEvent.objects.all():
        assert event_page(event) in page


def test_a_groups_admin_page_says_when_it_was_synced_and_what_changed(server, admin_client):
    deliver("callbackAfterCreateGroupCommand", group_id="G1", user_id="owner", user_ids=["a"])
    server.add_group("G1", "owner", ["a", "newcomer"], name="Group G1")
    run()

    group = IMGroup.objects.get(group_id="G1")
    page = admin_client.get(f"/admin/django_imcallback/imgroup/{group.pk}/change/").content.decode()

    assert "last synced at" in page.lower()
    assert "newcomer joined (role 20)" in page
