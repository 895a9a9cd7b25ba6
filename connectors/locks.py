"""One sync per connection at a time.

Three implementations behind one interface, picked by what the deployment has:
- PostgreSQL: a session-level advisory lock. It lives as long as the database session, so a worker
  killed mid-sync releases it the moment its connection drops; nothing has to expire.
- Redis (REDIS_URL set, database not PostgreSQL): redis-py's Lock, with an owner token (only the owner
  can extend or release it) and an expiry that every committed page extends.
- Otherwise (the embedded SQLite default): a claim on the Connection row itself, a conditional UPDATE
  that only succeeds when the row is unclaimed or its claim has expired; every page extends it.
"""

from __future__ import annotations

import logging
import secrets
import zlib
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)

# First half of the two-int advisory lock key, so our locks can't collide with another app's.
ADVISORY_NAMESPACE = zlib.crc32(b"productops.connectors.sync") & 0x7FFFFFFF


def lock_ttl() -> int:
    return int(getattr(settings, "CONNECTOR_LOCK_TTL", 300))


class SyncLock(Protocol):
    def acquire(self) -> bool: ...
    def refresh(self) -> None: ...
    def release(self) -> None: ...


class AdvisoryLock:
    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.held = False

    def acquire(self) -> bool:
        with db_connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_NAMESPACE, self.connection_id])
            self.held = bool(cur.fetchone()[0])
        return self.held

    def refresh(self) -> None:
        """Nothing to extend: the lock lasts as long as the session."""

    def release(self) -> None:
        if not self.held:
            return
        try:
            with db_connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_NAMESPACE, self.connection_id])
        except Exception:  # the session is gone, and the lock with it
            log.warning("could not release advisory lock for connection %s", self.connection_id)
        self.held = False


class RedisLock:
    def __init__(self, connection_id: int, url: str) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url)
        self.lock: Any = self.client.lock(
            f"{getattr(settings, 'LOCK_KEY_PREFIX', 'productops:')}connector-sync:{connection_id}",
            timeout=lock_ttl(),
            blocking=False,
        )

    def acquire(self) -> bool:
        return bool(self.lock.acquire(blocking=False))

    def refresh(self) -> None:
        self.lock.reacquire()

    def release(self) -> None:
        from redis.exceptions import LockError

        try:
            self.lock.release()
        except LockError:
            log.warning("sync lock %s had expired before release", self.lock.name)


class RowLock:
    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self.token = secrets.token_hex(16)

    def _rows(self) -> Any:
        from .models import Connection

        return Connection.objects.filter(pk=self.connection_id)

    def acquire(self) -> bool:
        now = timezone.now()
        claimed = (
            self._rows()
            .filter(Q(lock_token="") | Q(lock_expires_at__lt=now))
            .update(lock_token=self.token, lock_expires_at=now + timedelta(seconds=lock_ttl()))
        )
        return claimed == 1

    def refresh(self) -> None:
        expires = timezone.now() + timedelta(seconds=lock_ttl())
        self._rows().filter(lock_token=self.token).update(lock_expires_at=expires)

    def release(self) -> None:
        self._rows().filter(lock_token=self.token).update(lock_token="", lock_expires_at=None)


def lock_for(connection_id: int) -> SyncLock:
    if db_connection.vendor == "postgresql":
        return AdvisoryLock(connection_id)
    if getattr(settings, "REDIS_URL", ""):
        return RedisLock(connection_id, settings.REDIS_URL)
    return RowLock(connection_id)
