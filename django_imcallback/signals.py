"""Signals a host project connects to. All are sent after the storing transaction commits
(by the task worker in task mode), once per delivery that changed something.

Every signal also gets ``event``, the CallbackEvent of the delivery. The group signals'
``sender`` is ``IMGroup`` and ``group`` is the mirror's IMGroup, as it stands after
the change.
"""

from typing import Any

from asgiref.sync import async_to_sync
from django import dispatch


class CallbackSignal(dispatch.Signal):
    """A signal whose receiver failures the app logs, once, with the event and receiver.

    ``send_robust`` of a plain ``Signal`` also logs each failure on ``django.dispatch``,
    so an error tracker would open two issues per failure. Use it for the signal of a
    handler of your own, too.
    """

    def _log_robust_failure(self, receiver: Any, err: Exception) -> None:
        # django_imcallback.announcing logs the failure, naming the event.
        pass


def receiver_name(receiver: Any) -> str:
    """A receiver's dotted path, e.g. ``shop.receivers.on_dismissal``."""
    module = getattr(receiver, "__module__", None) or type(receiver).__module__
    name = getattr(receiver, "__qualname__", None) or type(receiver).__qualname__
    return f"{module}.{name}"


def send_robust(
    signal: dispatch.Signal, sender: Any, only: frozenset[str] | None = None, **named: Any
) -> list[tuple[Any, Any]]:
    """``signal.send_robust``, or, with ``only``, the same for the receivers named there
    (dotted paths): a replay retries the receivers that failed, not the ones that ran."""
    if only is None:
        return signal.send_robust(sender=sender, **named)
    # Django has no public way to call some of a signal's receivers; _live_receivers is
    # what send_robust itself uses, returning (sync, async) receivers since Django 5.0.
    sync_receivers, async_receivers = signal._live_receivers(sender)
    responses: list[tuple[Any, Any]] = []
    for receiver in [*sync_receivers, *(async_to_sync(r) for r in async_receivers)]:
        target = getattr(receiver, "awaitable", receiver)
        if receiver_name(target) not in only:
            continue
        try:
            responses.append((target, receiver(signal=signal, sender=sender, **named)))
        except Exception as error:
            responses.append((target, error))
    return responses


#: Sent once per dismissed group, the first time it is stored.
#: ``sender=DismissedGroup``; keyword arguments ``dismissal`` (the DismissedGroup, whose
#: ``members`` hold the member snapshot and ``members_source`` where it came from) and
#: ``event`` (the CallbackEvent that created it).
group_dismissed = CallbackSignal()

#: A group was created (``callbackAfterCreateGroupCommand``): ``group``, ``member_ids``
#: (the founding members, owner first).
group_created = CallbackSignal()

#: Users became members: ``group``, ``user_ids``, ``how`` (``"created"``, ``"joined"``:
#: a direct join, or ``"announced"``: named by callbackBeforeMembersJoinGroupCommand,
#: which covers invitations and approved applications).
group_members_joined = CallbackSignal()

#: Users stopped being members: ``group``, ``user_ids``, ``reason`` (``"quit"`` or
#: ``"kicked"``), ``kicked_by`` (the body's ``opUserID`` when it has one, else ``""``) and
#: ``message`` (the kick's reason text, ``""`` for a quit).
group_member_left = CallbackSignal()

#: The owner changed: ``group``, ``old_owner_id``, ``new_owner_id``.
group_owner_changed = CallbackSignal()

#: The group's info changed: ``group``, ``changes`` (the fields the body set, wire names).
group_info_changed = CallbackSignal()

#: A member's role or profile in the group changed: ``group``, ``user_id``, ``changes``.
group_member_changed = CallbackSignal()

#: Sent for every valid callback of any command, handled or not, duplicates included.
#: ``sender=CallbackEvent``; keyword arguments ``event``, ``command`` (str) and
#: ``payload`` (the parsed JSON object, a dict).
callback_received = CallbackSignal()
