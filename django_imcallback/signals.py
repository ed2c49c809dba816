"""Signals a host project connects to. Both are sent after the storing transaction commits."""

from django.dispatch import Signal

#: Sent once per dismissed group, the first time it is stored.
#: ``sender=DismissedGroup``; keyword arguments ``dismissal`` (the DismissedGroup, whose
#: ``members`` hold the member snapshot) and ``event`` (the CallbackEvent that created it).
group_dismissed = Signal()

#: Sent for every valid callback of any command, handled or not, duplicates included.
#: ``sender=CallbackEvent``; keyword arguments ``event``, ``command`` (str) and
#: ``payload`` (the parsed JSON object, a dict).
callback_received = Signal()
