"""The floors: the least a receiver must do, written as fast as Django and psycopg allow.

No DRF, no logging, no signals, no event log, no authentication: parse the body, check
the types, write what it says in one transaction, answer. ``floor_view`` stores a
dismissal and its members; ``floor_group_view`` does the same work as the app's group
callbacks (upsert and lock the group, upsert or end the memberships, the dismissal); the
message floor parses and allows. Their tables mirror the app's (same columns and
indexes), created by ``benchmarks/run.py``. Served under ``/bare/`` they run with no
middleware at all (``benchmarks/wsgi.py``).
"""

import json
from datetime import UTC, datetime

from django.db import connection, transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

SUCCESS = b'{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}'

DDL = """
CREATE TABLE IF NOT EXISTS floor_dismissal (
    id bigserial PRIMARY KEY,
    group_id varchar(255) NOT NULL UNIQUE,
    owner_id varchar(255) NOT NULL,
    group_type integer NULL,
    member_count integer NOT NULL,
    event_time timestamptz NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS floor_dismissal_owner ON floor_dismissal (owner_id);
CREATE INDEX IF NOT EXISTS floor_dismissal_received ON floor_dismissal (received_at);
CREATE TABLE IF NOT EXISTS floor_member (
    id bigserial PRIMARY KEY,
    dismissal_id bigint NOT NULL REFERENCES floor_dismissal (id) DEFERRABLE INITIALLY DEFERRED,
    user_id varchar(255) NOT NULL,
    UNIQUE (dismissal_id, user_id)
);
CREATE INDEX IF NOT EXISTS floor_member_user ON floor_member (user_id);
CREATE TABLE IF NOT EXISTS floor_group (
    id bigserial PRIMARY KEY,
    group_id varchar(255) NOT NULL UNIQUE,
    name varchar(255) NOT NULL DEFAULT '',
    owner_id varchar(255) NOT NULL DEFAULT '',
    status varchar(16) NOT NULL DEFAULT 'active',
    dismissed_at timestamptz NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS floor_group_member (
    id bigserial PRIMARY KEY,
    group_id bigint NOT NULL REFERENCES floor_group (id) DEFERRABLE INITIALLY DEFERRED,
    user_id varchar(255) NOT NULL,
    role_level integer NULL,
    joined_at timestamptz NULL,
    left_at timestamptz NULL,
    left_how varchar(16) NOT NULL DEFAULT '',
    UNIQUE (group_id, user_id)
);
CREATE INDEX IF NOT EXISTS floor_group_member_user ON floor_group_member (user_id);
"""

#: Upsert and lock the group: one round trip, the row locked until commit.
LOCK_GROUP = (
    "INSERT INTO floor_group (group_id, name, owner_id, updated_at) VALUES (%s, %s, %s, now())"
    " ON CONFLICT (group_id) DO UPDATE SET updated_at = now() RETURNING id"
)
JOIN = (
    "INSERT INTO floor_group_member (group_id, user_id, role_level, joined_at)"
    " SELECT %s, u, r, now() FROM unnest(%s::text[], %s::int[]) AS t(u, r)"
    " ON CONFLICT (group_id, user_id) DO UPDATE SET role_level = EXCLUDED.role_level,"
    " joined_at = now(), left_at = NULL, left_how = ''"
    " WHERE floor_group_member.left_at IS NOT NULL RETURNING user_id"
)
LEAVE = (
    "UPDATE floor_group_member SET left_at = now(), left_how = %s"
    " WHERE group_id = %s AND user_id = ANY(%s) AND left_at IS NULL RETURNING user_id"
)


def bad(message):
    return HttpResponse(message, status=400)


@csrf_exempt
@transaction.non_atomic_requests
def floor_view(request, command):
    data = json.loads(request.read())
    group_id = data.get("groupID")
    owner_id = data.get("ownerID") or ""
    members = data.get("membersID") or []
    group_type = data.get("groupType")
    event_time = data.get("eventTime")
    if not isinstance(group_id, str) or not isinstance(owner_id, str):
        return bad("ids")
    if not isinstance(members, list) or not all(type(m) is str for m in members):
        return bad("members")
    if isinstance(group_type, str):
        group_type = ord(group_type) if len(group_type) == 1 else int(group_type)
    members = list(dict.fromkeys(members))
    when = datetime.fromtimestamp(event_time / 1000, tz=UTC) if event_time else None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO floor_dismissal (group_id, owner_id, group_type, member_count,"
            " event_time, received_at) VALUES (%s, %s, %s, %s, %s, now())"
            " ON CONFLICT (group_id) DO NOTHING RETURNING id",
            [group_id, owner_id, group_type, len(members), when],
        )
        row = cursor.fetchone()
        if row and members and len(members) < 1000:  # one round trip beats COPY's three
            cursor.execute(
                "INSERT INTO floor_member (dismissal_id, user_id) SELECT %s, unnest(%s::text[])",
                [row[0], members],
            )
        elif row and members:
            with cursor.cursor.copy("COPY floor_member (dismissal_id, user_id) FROM STDIN") as copy:
                for member in members:
                    copy.write_row((row[0], member))
    return HttpResponse(SUCCESS, content_type="application/json")


@csrf_exempt
def floor_message_view(request, command):
    """The least a before-callback receiver does: parse the message, answer allow."""
    data = json.loads(request.read())
    if not isinstance(data.get("sendID"), str) or not isinstance(data.get("content"), str):
        return bad("message")
    return HttpResponse(SUCCESS, content_type="application/json")


def _ids(value):
    return isinstance(value, list) and all(type(item) is str for item in value)


@csrf_exempt
@transaction.non_atomic_requests
def floor_group_view(request, command):
    """The group callbacks' same work: one transaction per delivery."""
    data = json.loads(request.read())
    group_id = data.get("groupID")
    if not isinstance(group_id, str):
        return bad("group")
    with transaction.atomic(), connection.cursor() as cursor:
        if command == "callbackAfterDisMissGroupCommand":
            members = data.get("membersID") or []
            if not _ids(members) or not isinstance(data.get("ownerID") or "", str):
                return bad("members")
            cursor.execute(
                "INSERT INTO floor_dismissal (group_id, owner_id, group_type, member_count,"
                " event_time, received_at) VALUES (%s, %s, %s, %s, NULL, now())"
                " ON CONFLICT (group_id) DO NOTHING RETURNING id",
                [group_id, data.get("ownerID") or "", 2, len(members)],
            )
            row = cursor.fetchone()
            if row and members:
                cursor.execute(
                    "INSERT INTO floor_member (dismissal_id, user_id)"
                    " SELECT %s, unnest(%s::text[])",
                    [row[0], list(dict.fromkeys(members))],
                )
            cursor.execute(
                "UPDATE floor_group SET status = 'dismissed', dismissed_at = now()"
                " WHERE group_id = %s AND status <> 'dismissed'",
                [group_id],
            )
            return HttpResponse(SUCCESS, content_type="application/json")
        name, owner = data.get("groupName") or "", data.get("ownerUserID") or ""
        cursor.execute(LOCK_GROUP, [group_id, name, owner])
        (group,) = cursor.fetchone()
        if command == "callbackAfterCreateGroupCommand":
            entries = data.get("initMemberList") or []
            roles = {}
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("userID"), str):
                    return bad("members")
                roles.setdefault(entry["userID"], entry.get("roleLevel") or 20)
            cursor.execute(JOIN, [group, list(roles), list(roles.values())])
        elif command == "callbackAfterJoinGroupCommand":
            user = data.get("inviterUserID")
            if not isinstance(user, str):
                return bad("user")
            cursor.execute(JOIN, [group, [user], [20]])
        elif command == "callbackAfterQuitGroupCommand":
            user = data.get("userID")
            if not isinstance(user, str):
                return bad("user")
            cursor.execute(LEAVE, ["quit", group, [user]])
        elif command == "callbackAfterKickGroupCommand":
            users = data.get("kickedUserIDs") or []
            if not _ids(users):
                return bad("users")
            cursor.execute(LEAVE, ["kicked", group, users])
        else:
            return bad("command")
        cursor.fetchall()
    return HttpResponse(SUCCESS, content_type="application/json")
