import os

from django.contrib import admin
from django.urls import include, path

from django_imcallback.decisions import Block, decides
from django_imcallback.urls import bare_url

from .floor import floor_group_view, floor_message_view, floor_view
from .plain import PlainCallbackView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("floor/<str:command>", floor_view),
    path("floor-message/<str:command>", floor_message_view),
    path("floor-group/<str:command>", floor_group_view),
    path("imcallback/", include("django_imcallback.urls")),
    bare_url("imcallback"),
    path("plain/<str:command>", PlainCallbackView.as_view()),
]

if os.environ.get("BENCH_RECEIVER"):
    # A host's receiver that does nothing: the announcement is then owed, and marked sent.
    from django_imcallback.signals import group_dismissed

    group_dismissed.connect(lambda sender, **kwargs: None, weak=False)


@decides("callbackBeforeSendSingleMsgCommand")
@decides("callbackBeforeSendGroupMsgCommand")
def trivial_decider(event, payload):
    """A host's moderation rule at its cheapest: look at the text (the benchmark's never
    has the word, so every message is allowed)."""
    return Block(5001, "Message refused") if "forbidden" in payload.get("content", "") else None
