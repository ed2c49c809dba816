"""The floor: the least a receiver must do, written as fast as Django and psycopg allow.

No DRF, no logging, no signals, no event log, no authentication: parse the body, check
the types, insert the dismissal and its members in one transaction, answer. Its tables
mirror the app's (same columns and indexes), created by ``benchmarks/run.py``.
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
"""


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
