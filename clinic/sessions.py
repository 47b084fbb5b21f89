"""Django's database sessions, with the session read prepared on PostgreSQL.

Every staff request reads its session row first: the same statement every time, so
PostgreSQL prepares it once per connection instead of planning it per request
(``clinic.prepared``). Everything else is Django's ``db`` session store.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import router

from clinic.prepared import preparing


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Any:
        with preparing(router.db_for_read(self.model)):
            return super()._get_session_from_db()  # type: ignore[misc]  # not in django-stubs
