"""Signals a host project connects to. All are sent after the storing transaction commits
(by the task worker in task mode), once per delivery that changed something.

Every signal also gets ``event``, the CallbackEvent of the delivery. The group signals'
``sender`` is ``IMGroup`` and ``group`` is the mirror's IMGroup, as it stands after
the change.
"""

from django.dispatch import Signal

#: Sent once per dismissed group, the first time it is stored.
#: ``sender=DismissedGroup``; keyword arguments ``dismissal`` (the DismissedGroup, whose
#: ``members`` hold the member snapshot and ``members_source`` where it came from) and
#: ``event`` (the CallbackEvent that created it).
group_dismissed = Signal()

#: A group was created (``callbackAfterCreateGroupCommand``): ``group``, ``member_ids``
#: (the founding members, owner first).
group_created = Signal()

#: Users became members: ``group``, ``user_ids``, ``how`` (``"created"``, ``"joined"``:
#: a direct join, or ``"announced"``: named by callbackBeforeMembersJoinGroupCommand,
#: which covers invitations and approved applications).
group_members_joined = Signal()

#: Users stopped being members: ``group``, ``user_ids``, ``reason`` (``"quit"`` or
#: ``"kicked"``), ``kicked_by`` (the body's ``opUserID`` when it has one, else ``""``) and
#: ``message`` (the kick's reason text, ``""`` for a quit).
group_member_left = Signal()

#: The owner changed: ``group``, ``old_owner_id``, ``new_owner_id``.
group_owner_changed = Signal()

#: The group's info changed: ``group``, ``changes`` (the fields the body set, wire names).
group_info_changed = Signal()

#: A member's role or profile in the group changed: ``group``, ``user_id``, ``changes``.
group_member_changed = Signal()

#: Sent for every valid callback of any command, handled or not, duplicates included.
#: ``sender=CallbackEvent``; keyword arguments ``event``, ``command`` (str) and
#: ``payload`` (the parsed JSON object, a dict).
callback_received = Signal()
