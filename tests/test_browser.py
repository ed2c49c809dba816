"""The admin in a real browser: Debian's Chromium, headless, driven by Playwright.

Marked ``browser``: run by ``make test-browser`` and ``.ci/run``. Screenshots of every
page land in ``artifacts/screenshots/`` (or ``$IMCALLBACK_SCREENSHOTS``).
"""

import os
import shutil
from pathlib import Path

import pytest

from django_imcallback.models import CallbackEvent
from django_imcallback.openim import dismiss_group_body, go_json
from django_imcallback.signals import group_dismissed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(
    os.environ.get(
        "IMCALLBACK_SCREENSHOTS",
        Path(__file__).resolve().parent.parent / "artifacts" / "screenshots",
    )
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(monkeypatch):
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the test's own database
    # work is still synchronous (the documented Django/Playwright workaround).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        browser.close()


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def deliveries(client, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.com", "admin")

    def deliver(group_id, members):
        body = go_json(dismiss_group_body(group_id, "owner-1", members))
        response = client.post(
            "/imcallback/callbackAfterDisMissGroupCommand", body, content_type="application/json"
        )
        assert response.status_code == 200

    deliver("G-quiet", ["alice", "bob"])
    deliver("G-wanted", ["carol", "needle-user", "dave"])

    def explode(sender, **kwargs):
        raise RuntimeError("receiver was down")

    group_dismissed.connect(explode)
    try:
        deliver("G-failed", ["erin"])
    finally:
        group_dismissed.disconnect(explode)
    return CallbackEvent.objects.get(status="failed")


def test_operator_finds_a_dismissal_and_replays_a_failed_event(live_server, page, deliveries):
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    shot(page, "1-login")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    shot(page, "2-admin-index")

    page.goto(f"{live_server.url}/admin/django_imcallback/dismissedgroup/")
    page.fill("#searchbar", "needle-user")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "G-wanted" in rows.first.inner_text()
    shot(page, "3-search-by-member")

    rows.first.locator("a").first.click()
    page.wait_for_selector(".field-members_preview")
    members = page.locator(".field-members_preview").inner_text()
    assert all(user in members for user in ("carol", "needle-user", "dave"))
    shot(page, "4-dismissal-page")

    page.goto(f"{live_server.url}/admin/django_imcallback/callbackevent/")
    page.locator("#changelist-filter a", has_text="failed").first.click()
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    shot(page, "5-failed-events")

    page.check("#result_list tbody tr input.action-select")
    page.select_option("select[name=action]", "replay")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "1 processed" in page.locator(".messagelist").inner_text()
    shot(page, "6-replayed")

    deliveries.refresh_from_db()
    assert deliveries.status == "processed"
