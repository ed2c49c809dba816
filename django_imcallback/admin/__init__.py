"""Read-only admin for the event log, the dismissals and the mirror, fast on millions of rows.

Searches are exact matches on indexed columns (an ``icontains`` over millions of member rows
would scan them all), the event list never loads raw bodies, and a dismissal's page shows a
bounded preview of its members with a link to all of them. One module per part, as
``models``.
"""

from . import dismissals, events, groups

__all__ = ["dismissals", "events", "groups"]
