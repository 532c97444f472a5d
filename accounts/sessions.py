"""Database sessions stored under a digest of the session key, never the key itself.

The `sessionid` cookie is a bearer credential. Django's database backend keeps it in clear as the
primary key of `django_session`, so anyone holding a database dump or backup could sign in as every
logged-in user until their sessions expired (found by the canary sweep, tests/test_canary_secrets.py).
Here the row's key is the first 40 hex digits (160 bits) of the SHA-256 of the cookie value: a lookup
costs the same, and a dump reveals nothing usable. Rows written before this store keep their clear key,
match nothing, and expire; their users sign in again once.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone


def stored_key(session_key: str) -> str:
    """The primary key a session is stored under (the column is 40 characters wide)."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:40]


class SessionStore(DBStore):
    """Django's database store with every key hashed on the way to the database (sync and async)."""

    def _miss(self, exc: Exception) -> None:
        if isinstance(exc, SuspiciousOperation):
            logging.getLogger(f"django.security.{exc.__class__.__name__}").warning(str(exc))
        self._session_key = None

    def _get_session_from_db(self) -> Any:
        if self.session_key is None:
            return None
        try:
            return self.model.objects.get(session_key=stored_key(self.session_key), expire_date__gt=timezone.now())
        except (self.model.DoesNotExist, SuspiciousOperation) as exc:
            self._miss(exc)
            return None

    async def _aget_session_from_db(self) -> Any:
        if self.session_key is None:
            return None
        try:
            return await self.model.objects.aget(
                session_key=stored_key(self.session_key), expire_date__gt=timezone.now()
            )
        except (self.model.DoesNotExist, SuspiciousOperation) as exc:
            self._miss(exc)
            return None

    def exists(self, session_key: str) -> bool:
        return bool(super().exists(stored_key(session_key)))

    async def aexists(self, session_key: str) -> bool:
        return bool(await super().aexists(stored_key(session_key)))

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        obj = super().create_model_instance(data)
        obj.session_key = stored_key(obj.session_key)
        return obj

    async def acreate_model_instance(self, data: dict[str, Any]) -> Any:
        obj = await super().acreate_model_instance(data)
        obj.session_key = stored_key(obj.session_key)
        return obj

    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        if key is not None:
            super().delete(stored_key(key))

    async def adelete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        if key is not None:
            await super().adelete(stored_key(key))
