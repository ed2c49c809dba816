"""The wheel and sdist (make test-packaging)."""

import base64
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd, env=None):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), cwd=ROOT)
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory):
    """A fresh virtualenv with the wheel (and what the example project uses) installed."""
    [wheel] = dist.glob("*.whl")
    root = tmp_path_factory.mktemp("installed")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        f"{wheel}[tasks,openapi]",
        "dj-database-url",
        "django-tasks-db",
        cwd=root,
    )
    return python, {"PATH": str(env_dir / "bin"), "HOME": str(root)}


HOST_RECEIVER = """
from pathlib import Path

from django.dispatch import receiver

from django_imcallback.signals import group_dismissed


@receiver(group_dismissed)
def on_dismissed(sender, dismissal, event, **kwargs):
    members = ",".join(sorted(dismissal.members.values_list("user_id", flat=True)))
    Path(__file__).with_name("dismissed.txt").write_text(f"{dismissal.group_id}:{members}")
"""


def test_wheel_and_sdist_carry_what_the_app_needs(dist):
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "django_imcallback/py.typed" in names
    assert "django_imcallback/migrations/0001_initial.py" in names
    assert "django_imcallback/migrations/0002_event_dispatch_state.py" in names
    assert "django_imcallback/testing/fixtures.py" in names  # the kit host projects test with
    assert "django_imcallback/locale/zh_Hans/LC_MESSAGES/django.mo" in names  # Chinese
    assert not any(name.startswith(("tests/", "example_project/", "benchmarks/")) for name in names)
    root = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        shipped = {name.removeprefix(f"{root}/") for name in archive.getnames()}
    # The suite runs from the sdist: its settings, conftest and test app come with it.
    assert {"tests/settings.py", "tests/conftest.py", "tests/testapp/models.py"} <= shipped
    assert {"CHANGELOG.md", "docs/handlers.md", "docs/commands.md", "manage.py"} <= shipped
    assert not any("__pycache__" in name for name in shipped)


def test_the_example_project_migrates_and_checks_on_the_installed_wheel(installed, tmp_path):
    python, env = installed
    # Only the project, not the source tree: the app must come from the wheel.
    site = tmp_path / "site"
    shutil.copytree(ROOT / "example_project", site / "example_project")
    shutil.copy(ROOT / "manage.py", site / "manage.py")

    location = run(
        python,
        "-c",
        "import django_imcallback; print(django_imcallback.__file__)",
        cwd=site,
        env=env,
    )
    assert "venv" in location
    run(python, "manage.py", "migrate", "--noinput", cwd=site, env=env)
    assert "no issues" in run(python, "manage.py", "check", cwd=site, env=env)
    run(python, "manage.py", "imcallback_replay", "--dry-run", cwd=site, env=env)


def test_a_new_project_that_follows_the_readme_receives_a_callback(installed, tmp_path):
    """startproject, then only the README's Install steps; then a callback as OpenIM sends it."""
    python, env = installed
    run(python, "-m", "django", "startproject", "host", str(tmp_path), cwd=tmp_path, env=env)
    settings = tmp_path / "host" / "settings.py"
    settings.write_text(
        settings.read_text()
        + '\nINSTALLED_APPS += ["django_imcallback"]\n'
        + 'IMCALLBACK = {"BASIC_AUTH": ["openim:a-long-random-password"]}\n'
    )
    urls = tmp_path / "host" / "urls.py"
    urls.write_text(
        urls.read_text().replace(
            "from django.urls import path", "from django.urls import include, path"
        )
        + "\nfrom django_imcallback.urls import bare_url\n"
        + 'urlpatterns += [path("imcallback/", include("django_imcallback.urls")), '
        + 'bare_url("imcallback")]\n'
        + "from . import receivers  # noqa\n"
    )
    (tmp_path / "host" / "receivers.py").write_text(HOST_RECEIVER)
    run(python, "manage.py", "migrate", "--noinput", cwd=tmp_path, env=env)

    port = "8793"
    server = subprocess.Popen(
        [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        output = run(
            python,
            "manage.py",
            "imcallback_send",
            f"http://openim:a-long-random-password@127.0.0.1:{port}/imcallback",
            "--group",
            "G-readme",
            "--members",
            "2",
            cwd=tmp_path,
            env=env,
        )
        first_receiver_run = (tmp_path / "host" / "dismissed.txt").read_text()
        # An old server: the bare url, no slash, the command in the body.
        old_server = urllib.request.Request(
            f"http://127.0.0.1:{port}/imcallback",
            data=b'{"callbackCommand":"callbackAfterDisMissGroupCommand","groupID":"G-old",'
            b'"ownerID":"o","groupType":"\\u0002","membersID":["u1"]}\n',
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": "Basic "
                + base64.b64encode(b"openim:a-long-random-password").decode(),
            },
        )
        with urllib.request.urlopen(old_server, timeout=10) as response:  # noqa: S310 - http
            assert (response.status, json.loads(response.read())["errCode"]) == (200, 0)
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert "HTTP 200" in output
    assert first_receiver_run == "G-readme:user000001,user000002"
    assert (tmp_path / "host" / "dismissed.txt").read_text() == "G-old:u1"
    shown = run(
        python,
        "manage.py",
        "shell",
        "-c",
        (
            "from django.contrib import admin; from django_imcallback.models import "
            "CallbackEvent, DismissedGroup; print(*DismissedGroup.objects.order_by('pk')"
            ".values_list('group_id', flat=True), *CallbackEvent.objects.values_list("
            "'status', flat=True), admin.site.is_registered(DismissedGroup))"
        ),
        cwd=tmp_path,
        env=env,
    )
    assert shown.strip().splitlines()[-1].split() == [
        "G-readme",
        "G-old",
        "processed",
        "processed",
        "True",
    ]
