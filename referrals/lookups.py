"""``status__in_constants`` and ``queue__in_constants``: an IN list written into the SQL.

The open-work indexes (referrals/models.py) are partial: ``WHERE status IN ('claimed', ...)``.
SQLite uses a partial index only when the query repeats that term, value for value and in the
same order, and a bound parameter never counts; so with Django's ``status__in`` (parameters)
every queue page on SQLite read the whole table. PostgreSQL proves the implication either way.

The queues a user may see go the same way (``selectors.referral_list``): the list statements
are already built and kept per queue set, and PostgreSQL plans a prepared statement once,
without its parameters' values, for every later run (clinic.prepared). With the queue as a
parameter that plan was made for an average queue: at 10,000 cases it read a clinician's
whole open queue by another index and sorted it (bench/explain.py); with the queue written in,
it is the plan for that queue, by the queue's order index.

The values must be plain codes (Status or Queue values): anything else is refused, never
quoted. No values selects nothing, as ``__in`` does.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models.lookups import In

_CODE = re.compile(r"[a-z][a-z_]*")


class InConstants(In):
    lookup_name = "in_constants"

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        values = sorted(set(self.rhs))
        if not all(isinstance(v, str) and _CODE.fullmatch(v) for v in values):
            raise ValueError(f"in_constants takes codes, not {self.rhs!r}")
        if not values:
            raise EmptyResultSet
        return "(" + ", ".join(f"'{value}'" for value in values) + ")", ()
