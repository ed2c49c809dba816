import os

from django.contrib import admin
from django.urls import include, path

from .floor import floor_view
from .plain import PlainCallbackView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("floor/<str:command>", floor_view),
    path("imcallback/", include("django_imcallback.urls")),
    path("plain/<str:command>", PlainCallbackView.as_view()),
]

if os.environ.get("BENCH_RECEIVER"):
    # A host's receiver that does nothing: the announcement is then owed, and marked sent.
    from django_imcallback.signals import group_dismissed

    group_dismissed.connect(lambda sender, **kwargs: None, weak=False)
