"""Who may call: basic auth, address allowlists, trusted proxies, the secret path."""

import base64
import ipaddress
import logging

import pytest

from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.permissions import client_ip, parse_ip

from ..factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def assert_refused(response, status, caplog):
    assert response.status_code == status
    assert response.json()["errCode"] == status
    assert not CallbackEvent.objects.exists()
    assert any(
        record.levelno == logging.WARNING and "127.0.0.1" in record.getMessage()
        for record in caplog.records
    )


@pytest.fixture
def basic_auth(settings):
    settings.IMCALLBACK = {"BASIC_AUTH": ["openim:old-secret", "openim:new-secret"]}


def request_from(rf, remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return rf.post("/", **extra)


NETS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.fixture
def secret_path(settings):
    settings.IMCALLBACK = {"SECRET_PATH": "s3cr3t-t0ken"}


@pytest.mark.usefixtures("basic_auth")
@pytest.mark.parametrize("credentials", ["openim:old-secret", "openim:new-secret"])
def test_any_configured_credential_is_accepted_for_rotation(post, credentials):
    response = post(DismissPayloadFactory(), HTTP_AUTHORIZATION=basic(credentials))

    assert response.status_code == 200
    assert DismissedGroup.objects.count() == 1


@pytest.mark.usefixtures("basic_auth")
@pytest.mark.parametrize(
    "header",
    [
        None,
        basic("openim:wrong"),
        basic("other:old-secret"),
        basic("openim"),
        basic("openim:old-secret:x"),
        "Basic !!!notbase64",
        "Bearer openim:old-secret",
        "Basic",
    ],
)
def test_wrong_or_missing_credentials_get_401_and_nothing_is_stored(post, caplog, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = post(DismissPayloadFactory(), **extra)

    assert_refused(response, 401, caplog)
    assert response["WWW-Authenticate"].startswith('Basic realm="imcallback"')


def test_go_client_sends_url_userinfo_as_basic_auth(post, settings):
    """webhooks.yml url http://openim:p%40ss@host/imcallback: Go decodes the userinfo."""
    settings.IMCALLBACK = {"BASIC_AUTH": ["openim:p@ss:word"]}

    response = post(DismissPayloadFactory(), HTTP_AUTHORIZATION=basic("openim:p@ss:word"))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "allowed", [["127.0.0.1"], ["127.0.0.0/8"], ["10.0.0.0/8", "127.0.0.1/32"]]
)
def test_allowed_address_gets_in(post, settings, allowed):
    settings.IMCALLBACK = {"ALLOWED_IPS": allowed}

    assert post(DismissPayloadFactory()).status_code == 200


def test_other_address_gets_403_and_nothing_is_stored(post, settings, caplog):
    settings.IMCALLBACK = {"ALLOWED_IPS": ["10.0.0.0/8", "fd00::/8"]}

    assert_refused(post(DismissPayloadFactory()), 403, caplog)


def test_forwarded_for_is_ignored_without_trusted_proxies(post, settings, caplog):
    settings.IMCALLBACK = {"ALLOWED_IPS": ["10.1.2.3"]}

    response = post(DismissPayloadFactory(), HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert_refused(response, 403, caplog)


def test_forwarded_for_from_a_trusted_proxy_is_believed(post, settings):
    settings.IMCALLBACK = {"ALLOWED_IPS": ["10.1.2.3"], "TRUSTED_PROXIES": ["127.0.0.1"]}

    response = post(DismissPayloadFactory(), HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert response.status_code == 200
    assert CallbackEvent.objects.get().remote_addr == "10.1.2.3"


def test_spoofed_left_most_hop_is_not_believed(post, settings, caplog):
    """The client wrote 10.1.2.3 itself; the proxy appended the real address."""
    settings.IMCALLBACK = {"ALLOWED_IPS": ["10.1.2.3"], "TRUSTED_PROXIES": ["127.0.0.1"]}

    response = post(DismissPayloadFactory(), HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9")

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.9", "1.1.1.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.1", "1.1.1.1", "1.1.1.1"),
        ("10.0.0.1", "6.6.6.6, 1.1.1.1", "1.1.1.1"),  # right-most untrusted hop
        ("10.0.0.1", "1.1.1.1, 10.0.0.2", "1.1.1.1"),  # through two proxies
        ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all trusted: left-most
        ("10.0.0.1", "1.1.1.1:5555", "1.1.1.1"),
        ("10.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.1", "2001:db8::1", "2001:db8::1"),
        ("10.0.0.1", "garbage, 1.1.1.1", "1.1.1.1"),
        ("10.0.0.1", "1.1.1.1, garbage", "10.0.0.1"),  # nothing left of garbage is believed
        ("10.0.0.1", "", "10.0.0.1"),
        ("fd00::1", "1.1.1.1", "1.1.1.1"),
        ("::ffff:10.0.0.1", "1.1.1.1", "1.1.1.1"),  # IPv4-mapped peer
    ],
)
def test_the_client_is_the_right_most_address_no_trusted_proxy_added(
    rf, remote, forwarded, expected
):
    assert str(client_ip(request_from(rf, remote, forwarded), NETS)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4:80", "1.2.3.4"),
        ("[::1]", "::1"),
        ("[::1]:8080", "::1"),
        ("::1", "::1"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("nope", None),
        ("[::1", None),
        ("", None),
    ],
)
def test_an_address_is_read_with_or_without_port_brackets_and_spaces(value, expected):
    address = parse_ip(value)
    assert (str(address) if address else None) == expected


@pytest.mark.usefixtures("secret_path")
@pytest.mark.parametrize(
    "path",
    [
        f"/imcallback/s3cr3t-t0ken/{DISMISS}",
        f"/imcallback//s3cr3t-t0ken/{DISMISS}?contenttype=json",
    ],
)
def test_secret_path_gets_in(post, path):
    assert post(DismissPayloadFactory(), path=path).status_code == 200
    assert DismissedGroup.objects.count() == 1


@pytest.mark.usefixtures("secret_path")
@pytest.mark.parametrize(
    "path",
    [
        f"/imcallback/{DISMISS}",
        f"/imcallback/wrong/{DISMISS}",
        f"/imcallback/s3cr3t-t0ke/{DISMISS}",
    ],
)
def test_wrong_or_missing_secret_gets_403(post, caplog, path):
    assert_refused(post(DismissPayloadFactory(), path=path), 403, caplog)


def test_secret_segment_without_configured_secret_is_404(post):
    response = post(DismissPayloadFactory(), path=f"/imcallback/anything/{DISMISS}")

    assert response.status_code == 404
    assert not CallbackEvent.objects.exists()


def test_all_checks_combine(post, settings):
    settings.IMCALLBACK = {
        "BASIC_AUTH": ["u:p"],
        "ALLOWED_IPS": ["127.0.0.1"],
        "SECRET_PATH": "tok",
    }
    good = {"path": f"/imcallback/tok/{DISMISS}", "HTTP_AUTHORIZATION": basic("u:p")}

    assert post(DismissPayloadFactory(), **good).status_code == 200
    assert (
        post(DismissPayloadFactory(), **{**good, "HTTP_AUTHORIZATION": basic("u:x")}).status_code
        == 401
    )
    assert (
        post(DismissPayloadFactory(), **{**good, "path": f"/imcallback/{DISMISS}"}).status_code
        == 403
    )
    assert post(DismissPayloadFactory(), **{**good, "REMOTE_ADDR": "10.9.9.9"}).status_code == 403


@pytest.mark.parametrize(
    "setting",
    [{"ALLOWED_IPS": ["not-an-ip"]}, {"BASIC_AUHT": ["openim:secret"]}, {"allowed_ips": []}],
)
def test_misconfigured_settings_fail_closed_with_json(post, settings, setting):
    """A wrong value or a misspelt key (a caller check that is not in force) refuses
    everyone at run time too, where no system check runs (gunicorn)."""
    settings.IMCALLBACK = setting

    response = post(DismissPayloadFactory())

    assert response.status_code == 500
    assert response.json()["errCode"] == 500
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize(
    ("setting", "path", "headers", "status", "message"),
    [
        (
            {"BASIC_AUTH": ["openim:secret"]},
            f"/imcallback/{DISMISS}",
            {},
            401,
            "Authentication required: no credentials.",
        ),
        (
            {"ALLOWED_IPS": ["10.9.9.9"]},
            f"/imcallback/{DISMISS}",
            {},
            403,
            "This address may not call the callback endpoint.",
        ),
        (
            {"SECRET_PATH": "s3cret"},
            f"/imcallback/wrong/{DISMISS}",
            {},
            403,
            "Unknown callback path.",
        ),
        ({}, f"/imcallback/unexpected/{DISMISS}", {}, 404, "Unknown callback path."),
        (
            {"BASIC_AUTH": ["openim:secret"]},
            f"/imcallback/{DISMISS}",
            {"Authorization": "Bearer b3BlbmltOnNlY3JldA=="},
            401,
            "Authentication required: not Basic auth.",
        ),
        (
            {"BASIC_AUTH": ["openim:secret"]},
            f"/imcallback/{DISMISS}",
            {"Authorization": "Basic b3Blbmlt!OnNlY3JldA=="},
            401,
            "Authentication failed: wrong credentials.",
        ),
    ],
)
def test_each_refusal_is_answered_with_its_documented_message(
    post, settings, setting, path, headers, status, message
):
    """Refusals answer with the status and message the README documents; a 401 carries
    the Basic challenge; a non-Basic scheme or malformed base64 never gets in."""
    settings.IMCALLBACK = setting

    response = post(DismissPayloadFactory(), path=path, headers=headers)

    assert (response.status_code, response.json()["errMsg"]) == (status, message)
    assert ("WWW-Authenticate" in response) == (status == 401)
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize("remote", ["not-an-address", "", "999.1.1.1"])
def test_an_unparseable_client_address_is_refused_by_the_allowlist(post, settings, remote):
    settings.IMCALLBACK = {"ALLOWED_IPS": ["0.0.0.0/0", "::/0"]}  # everybody who has an address

    response = post(DismissPayloadFactory(), REMOTE_ADDR=remote)

    assert response.status_code == 403
    assert not CallbackEvent.objects.exists()


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC"])
def test_the_auth_scheme_is_read_in_any_case_as_go_reads_it(post, basic_auth, scheme):
    """RFC 7235: the scheme is case-insensitive (Go's parseBasicAuth uses EqualFold)."""
    header = basic("openim:new-secret").replace("Basic", scheme, 1)

    response = post(DismissPayloadFactory(), headers={"Authorization": header})

    assert response.status_code == 200
    assert CallbackEvent.objects.count() == 1


def test_a_misspelt_key_is_logged_with_the_setting_it_meant(post, settings, caplog):
    settings.IMCALLBACK = {"BASIC_AUHT": ["openim:secret"]}

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        post(DismissPayloadFactory())

    assert (
        "IMCALLBACK is misconfigured, refusing callbacks: IMCALLBACK has an unknown key: "
        "'BASIC_AUHT' (did you mean 'BASIC_AUTH'?)." in caplog.text
    )


def test_a_basic_header_with_more_than_one_space_is_wrong_credentials_not_another_scheme(
    post, basic_auth
):
    response = post(DismissPayloadFactory(), headers={"Authorization": "Basic a b"})

    assert (response.status_code, response.json()["errMsg"]) == (
        401,
        "Authentication failed: wrong credentials.",
    )
