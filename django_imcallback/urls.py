"""Mount with ``path("imcallback/", include("django_imcallback.urls"))``.

OpenIM posts to ``<configured url>/<command>``; a configured url with a trailing slash
yields ``//<command>``, and old servers post to the bare url, so all of these match.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import re_path
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
