"""Settings for the fault test (scripts/fault_test.py): the test project, logging to stderr."""

from .settings import *  # noqa: F403

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"django_imcallback": {"handlers": ["stderr"], "level": "WARNING"}},
}
