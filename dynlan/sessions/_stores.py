"""Where sessions are kept: the instance's shared store (`memory`) or Redis (`redis`).

Values are opaque bytes here (the session's encoded data, or PHP's own serialised `$_SESSION`), stored under a key
the caller builds from the site's namespace and the session id. Every read slides the session's expiry: a
session lives `max_age` seconds past its last use.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Protocol

from dynlan.host._redis import RedisLink, RedisUnavailable
from dynlan.host._shared import SharedStore, SharedStoreError

SWEEP_EVERY = 1024
"""Writes between two sweeps of expired sessions from the memory store."""


class SessionStoreError(Exception):
    """The store could not answer."""


class SessionStore(Protocol):
    local: bool
    """True when operations never wait on I/O (the `_nowait` forms work)."""

    def load_nowait(self, key: str, max_age: float) -> bytes | None: ...
    def save_nowait(self, key: str, data: bytes, max_age: float) -> None: ...
    def delete_nowait(self, key: str) -> None: ...
    def secret_nowait(self) -> str: ...
    def lock_nowait(self, key: str, token: str, ttl: float) -> bool: ...
    def unlock_nowait(self, key: str, token: str) -> None: ...
    async def load(self, key: str, max_age: float) -> bytes | None: ...
    async def save(self, key: str, data: bytes, max_age: float) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def secret(self) -> str: ...
    async def lock(self, key: str, token: str, ttl: float) -> bool: ...
    async def unlock(self, key: str, token: str) -> None: ...


def _namespace(key: str) -> str:
    return key.partition("\0")[0]


class MemorySessions:
    """Sessions in the instance's shared store: every worker process of the instance sees them.

    The store is in the machine's memory, so each site's sessions have a byte budget (`site_max_bytes`): a site
    whose pages keep making sessions fills its own budget, not the machine (and not another site's). The bytes
    of each namespace are counted in the same transaction as every write and delete.
    """

    local = True

    def __init__(self, shared: SharedStore, site_max_bytes: int = 64 * 1024 * 1024) -> None:
        self._shared = shared
        self.site_max_bytes = site_max_bytes
        self._writes = 0

    @staticmethod
    def _account(db: Any, namespace: str, delta: int) -> int:
        row = db.execute("INSERT INTO usage (namespace, bytes) VALUES (?1, ?2) ON CONFLICT(namespace) DO UPDATE "
                         "SET bytes = max(0, bytes + ?2) RETURNING bytes", (namespace, delta)).fetchone()
        return int(row[0])

    def _sweep(self, db: Any, now: float) -> None:
        freed: dict[str, int] = {}
        for key, size in db.execute("DELETE FROM session WHERE expires <= ? RETURNING key, length(data) + length(key)",
                                    (now,)).fetchall():
            freed[_namespace(key)] = freed.get(_namespace(key), 0) + int(size)
        for namespace, size in freed.items():
            self._account(db, namespace, -size)

    def load_nowait(self, key: str, max_age: float) -> bytes | None:
        now = time.time()
        try:
            with self._shared.transaction() as db:
                row = db.execute("SELECT data, expires FROM session WHERE key = ?", (key,)).fetchone()
                if row is None:
                    return None
                if row[1] <= now:
                    db.execute("DELETE FROM session WHERE key = ?", (key,))
                    self._account(db, _namespace(key), -(len(row[0]) + len(key)))
                    return None
                db.execute("UPDATE session SET expires = ? WHERE key = ?", (now + max_age, key))
                return bytes(row[0])
        except SharedStoreError as exc:
            raise SessionStoreError(str(exc)) from None

    def save_nowait(self, key: str, data: bytes, max_age: float) -> None:
        now = time.time()
        try:
            with self._shared.transaction() as db:
                self._writes += 1
                if self._writes % SWEEP_EVERY == 0:
                    self._sweep(db, now)
                row = db.execute("SELECT length(data) FROM session WHERE key = ?", (key,)).fetchone()
                delta = len(data) + (-int(row[0]) if row is not None else len(key))
                used = self._account(db, _namespace(key), delta)
                if delta > 0 and used > self.site_max_bytes:
                    # Rolled back with the transaction: nothing is kept, the count included.
                    raise ValueError(f"this site's sessions would hold more than their budget of "
                                     f"{self.site_max_bytes} bytes ([sessions] site_max_bytes)")
                db.execute("INSERT INTO session (key, data, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
                           "SET data = excluded.data, expires = excluded.expires", (key, data, now + max_age))
        except SharedStoreError as exc:
            raise SessionStoreError(str(exc)) from None

    def delete_nowait(self, key: str) -> None:
        try:
            with self._shared.transaction() as db:
                row = db.execute("DELETE FROM session WHERE key = ? RETURNING length(data)", (key,)).fetchone()
                if row is not None:
                    self._account(db, _namespace(key), -(int(row[0]) + len(key)))
        except SharedStoreError as exc:
            raise SessionStoreError(str(exc)) from None

    def secret_nowait(self) -> str:
        """The instance's generated signing key (made by whichever worker asks first)."""
        try:
            with self._shared.transaction() as db:
                db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('session-secret', ?)",
                           (secrets.token_urlsafe(32),))
                row = db.execute("SELECT value FROM meta WHERE key = 'session-secret'").fetchone()
        except SharedStoreError as exc:
            raise SessionStoreError(str(exc)) from None
        return str(row[0])

    def lock_nowait(self, key: str, token: str, ttl: float) -> bool:
        """Take the lock `key` for `ttl` seconds unless someone else holds it."""
        now = time.time()
        name = "lock\0" + key
        try:
            with self._shared.transaction() as db:
                row = db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
                if row is not None:
                    holder, _, expires = str(row[0]).partition(" ")
                    if holder != token and float(expires) > now:
                        return False
                db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                           "excluded.value", (name, f"{token} {now + ttl}"))
        except SharedStoreError as exc:
            raise SessionStoreError(str(exc)) from None
        return True

    def unlock_nowait(self, key: str, token: str) -> None:
        try:
            with self._shared.transaction() as db:
                db.execute("DELETE FROM meta WHERE key = ? AND value LIKE ?", ("lock\0" + key, token + " %"))
        except SharedStoreError as exc:
            raise SessionStoreError(str(exc)) from None

    async def lock(self, key: str, token: str, ttl: float) -> bool:
        return self.lock_nowait(key, token, ttl)

    async def unlock(self, key: str, token: str) -> None:
        self.unlock_nowait(key, token)

    async def load(self, key: str, max_age: float) -> bytes | None:
        return self.load_nowait(key, max_age)

    async def save(self, key: str, data: bytes, max_age: float) -> None:
        self.save_nowait(key, data, max_age)

    async def delete(self, key: str) -> None:
        self.delete_nowait(key)

    async def secret(self) -> str:
        return self.secret_nowait()


class RedisSessions:
    """Sessions in Redis: every instance sees them, and they outlive restarts of the instances."""

    local = False

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._unlock = link.script(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")

    def _key(self, key: str) -> str:
        return self._link.key("session", key)

    def _refuse(self) -> None:
        raise SessionStoreError("the Redis session store answers only asynchronously")

    def load_nowait(self, key: str, max_age: float) -> bytes | None:
        self._refuse()
        return None

    def save_nowait(self, key: str, data: bytes, max_age: float) -> None:
        self._refuse()

    def delete_nowait(self, key: str) -> None:
        self._refuse()

    def secret_nowait(self) -> str:
        self._refuse()
        return ""

    def lock_nowait(self, key: str, token: str, ttl: float) -> bool:
        self._refuse()
        return False

    def unlock_nowait(self, key: str, token: str) -> None:
        self._refuse()

    async def lock(self, key: str, token: str, ttl: float) -> bool:
        client = self._link.client
        name = self._link.key("session-lock", key)
        try:
            taken = await self._link.run(lambda: client.set(name, token, nx=True, px=max(1, int(ttl * 1000))))
        except RedisUnavailable as exc:
            raise SessionStoreError(str(exc)) from None
        return bool(taken)

    async def unlock(self, key: str, token: str) -> None:
        # Only the holder's token deletes it: a lock that expired and was taken by another request stays theirs.
        try:
            name = self._link.key("session-lock", key)
            await self._link.run(lambda: self._unlock(keys=[name], args=[token]))
        except RedisUnavailable as exc:
            raise SessionStoreError(str(exc)) from None

    async def load(self, key: str, max_age: float) -> bytes | None:
        client = self._link.client
        try:
            data = await self._link.run(lambda: client.getex(self._key(key), px=int(max_age * 1000)))
        except RedisUnavailable as exc:
            raise SessionStoreError(str(exc)) from None
        return bytes(data) if data is not None else None

    async def save(self, key: str, data: bytes, max_age: float) -> None:
        client = self._link.client
        try:
            await self._link.run(lambda: client.set(self._key(key), data, px=int(max_age * 1000)))
        except RedisUnavailable as exc:
            raise SessionStoreError(str(exc)) from None

    async def delete(self, key: str) -> None:
        client = self._link.client
        try:
            await self._link.run(client.delete, self._key(key))
        except RedisUnavailable as exc:
            raise SessionStoreError(str(exc)) from None

    async def secret(self) -> str:
        """The cluster's generated signing key: the first instance to ask sets it (SET NX), all read the same."""
        client = self._link.client
        name = self._link.key("session-secret")

        def fetch() -> Any:
            client.set(name, secrets.token_urlsafe(32), nx=True)
            return client.get(name)

        try:
            value = await self._link.run(fetch)
        except RedisUnavailable as exc:
            raise SessionStoreError(str(exc)) from None
        return value.decode("ascii") if isinstance(value, bytes) else str(value)
