"""``status__in_constants``: an IN list written into the SQL, for the partial indexes.

The open-work indexes (referrals/models.py) are partial: ``WHERE status IN ('claimed', ...)``.
SQLite uses a partial index only when the query repeats that term, value for value and in the
same order, and a bound parameter never counts; so with Django's ``status__in`` (parameters)
every queue page on SQLite read the whole table. PostgreSQL proves the implication either way.
The values must be plain codes (the Status values): anything else is refused, never quoted.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models.lookups import In

_CODE = re.compile(r"[a-z][a-z_]*")


class InConstants(In):
    lookup_name = "in_constants"

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        values = sorted(set(self.rhs))
        if not values or not all(isinstance(v, str) and _CODE.fullmatch(v) for v in values):
            raise ValueError(f"in_constants takes status codes, not {self.rhs!r}")
        return "(" + ", ".join(f"'{value}'" for value in values) + ")", ()
