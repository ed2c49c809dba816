"""The built wheel is complete: migrations, py.typed and templates ship, the demo runs on it.

Slow (builds, creates a virtualenv, installs from the package index): marked
``packaging`` and run by ``make test-packaging`` and ``.ci/run``, not by ``make test``.
"""

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd, env=None):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), cwd=ROOT)
    return out


def test_wheel_and_sdist_carry_what_the_app_needs(dist):
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "django_imcallback/py.typed" in names
    assert "django_imcallback/migrations/0001_initial.py" in names
    assert "django_imcallback/migrations/0002_event_dispatch_state.py" in names
    assert not any(name.startswith(("tests/", "example_project/", "benchmarks/")) for name in names)
    assert sdist.stat().st_size > 0


def test_the_example_project_migrates_and_checks_on_the_installed_wheel(dist, tmp_path):
    [wheel] = dist.glob("*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        f"{wheel}[tasks]",
        "dj-database-url",
        "django-tasks-db",
        cwd=tmp_path,
    )
    # Only the project, not the source tree: the app must come from the wheel.
    site = tmp_path / "site"
    shutil.copytree(ROOT / "example_project", site / "example_project")
    shutil.copy(ROOT / "manage.py", site / "manage.py")
    env = {"PATH": str(env_dir / "bin"), "HOME": str(tmp_path)}

    location = run(
        python,
        "-c",
        "import django_imcallback; print(django_imcallback.__file__)",
        cwd=site,
        env=env,
    )
    assert str(env_dir) in location
    run(python, "manage.py", "migrate", "--noinput", cwd=site, env=env)
    output = run(python, "manage.py", "check", cwd=site, env=env)
    assert "no issues" in output
    run(python, "manage.py", "imcallback_replay", "--dry-run", cwd=site, env=env)
