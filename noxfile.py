"""Test matrix: Python x Django. `nox -l` lists the sessions; `nox -s lint` lints.

With pyenv, make every interpreter visible first, e.g.
``export PYENV_VERSION=3.11.7:3.12.1:3.13.0`` (`.ci/run` does this itself).
"""

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

# Django 5.2 LTS supports Python 3.10-3.14; 6.x needs 3.12+. We support 3.11+.
MATRIX = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]


@nox.session
@nox.parametrize(
    ("python", "django"), MATRIX, ids=[f"py{python}-django{django}" for python, django in MATRIX]
)
def tests(session: nox.Session, django: str) -> None:
    session.install("-e", ".[dev]", f"django~={django}.0")
    session.run("python", "-m", "django", "--version")
    session.run("python", "-m", "pytest", *session.posargs)
    session.run("python", "-m", "pytest", "--ds=example_project.settings", "example_project")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
