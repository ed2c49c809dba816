"""The benchmarks' WSGI application: Django's, and under ``/bare/`` the same project served
with no middleware at all (the floors' least: a receiver pays its host's middleware, the
least a receiver must do does not)."""

import os

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
BARE = "/bare"


class BareHandler(WSGIHandler):
    """Django's WSGI handler with an empty middleware chain."""

    def load_middleware(self, is_async=False):
        self._view_middleware, self._template_response_middleware = [], []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response)


django_application = get_wsgi_application()
bare_application = BareHandler()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith(BARE + "/"):
        environ["PATH_INFO"] = path[len(BARE) :]
        return bare_application(environ, start_response)
    return django_application(environ, start_response)
