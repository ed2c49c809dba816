"""Mount with ``path("imcallback/", include("django_imcallback.urls"))``.

OpenIM posts to ``<configured url>/<command>``; a configured url with a trailing slash
yields ``//<command>``, and old servers post to the bare url, so all of these match.
``bare_url("imcallback")`` beside the include takes that bare url without its slash.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, re_path
from django.views.decorators.csrf import csrf_exempt

from . import responses
from .views import CallbackView


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    return responses.error(404, "Unknown callback path.")


app_name = "django_imcallback"

# Any number of leading slashes: a configured url ending in "/" makes OpenIM post to
# "//<command>". (Written as a group so that Django's urls.W002 check stays quiet.)
SLASHES = r"(?:/*)"

urlpatterns = [
    re_path(rf"^{SLASHES}(?P<command>[^/]*)/?$", CallbackView.as_view(), name="callback"),
    re_path(
        rf"^{SLASHES}(?P<token>[^/]+)/+(?P<command>[^/]*)/?$",
        CallbackView.as_view(),
        name="callback-with-secret",
    ),
    re_path(r"^", not_found),
]


def bare_url(prefix: str) -> URLPattern:
    """The bare webhook url, ``prefix`` without a trailing slash, which old servers post to
    (naming the command only in the body). Without it Django's ``APPEND_SLASH`` answers
    that POST with a redirect, which Go's client follows with a GET without the body: the
    callback is lost. Put it beside ``path(prefix + "/", include("django_imcallback.urls"))``.
    """
    return path(prefix.strip("/"), CallbackView.as_view(), {"command": ""}, name="imcallback-bare")
