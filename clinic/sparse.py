"""Foreign keys that are often empty, indexed only where set.

Who entered a submission on a patient's behalf, who cleared a red flag, who made an event (none
for the system's own) and which referral a reroute came from are empty on most rows. A full
index holds an entry for every row, for lookups only by value (deleting a user's PROTECT check,
a reroute's origin): a partial index ``WHERE column IS NOT NULL`` serves them, since a
comparison on the column implies it is set, on SQLite and PostgreSQL alike
(tests/test_sparse_user_indexes.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


def optional_user() -> models.ForeignKey[Any, Any]:
    """A member of staff who may be absent; kept while referred to (PROTECT), with no index
    of its own: give the model ``index_where_set`` for it."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )


def index_where_set(field: str, name: str) -> models.Index:
    return models.Index(
        fields=[field], name=name, condition=models.Q(**{f"{field}__isnull": False})
    )
