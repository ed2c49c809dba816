"""Test settings: SQLite in memory by default, PostgreSQL when DATABASE_URL is set."""

import os
from importlib.util import find_spec

import dj_database_url

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_imcallback",
    "django_tasks_db",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.config(default="sqlite://:memory:")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_URL = "static/"
IMCALLBACK: dict[str, object] = {}

# Task mode runs on the immediate backend in the ordinary suite; the end-to-end test
# starts real `db_worker` processes with IMCALLBACK_TEST_TASKS=db.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend"
        if os.environ.get("IMCALLBACK_TEST_TASKS") == "db"
        # Django 6.0+ has the framework; before, the django-tasks backport provides it.
        else f"{'django.tasks' if find_spec('django.tasks') else 'django_tasks'}"
        ".backends.immediate.ImmediateBackend",
    }
}
if os.environ.get("IMCALLBACK_TEST_TASKS") == "db":
    IMCALLBACK = {"DISPATCH": "task"}
