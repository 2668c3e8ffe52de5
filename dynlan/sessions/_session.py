"""Sessions for pages of every language: `session.get/set/delete/regenerate` through the host-call table.

A session is a table of values kept in the session store (`_stores.py`) under an id the client holds in a cookie.
The cookie is `ID.SIGNATURE`, the signature an HMAC-SHA256 of the site's namespace and the id under the server's
secret: a client cannot make up an id the server did not hand out, and a cookie of one site is nobody's session
on another site (each site's sessions also live in its own namespace of the store). It is `HttpOnly` (no script
of the page reads it), `SameSite=Lax` (not sent on cross-site POSTs: login CSRF), `Path=/`, and `Secure` when the
request came over TLS.

Nothing is created until a page sets something: reading an absent session costs a cookie check and no store
call. Every change is written to the store at once, so a page that fails halfway keeps what it set before.
`regenerate()` moves the session to a new id and drops the old one (call it on login: session fixation).

PHP's own `$_SESSION` keeps its serialised data through the same store (the prelude's save handler calls
`php_session_read/write/destroy`), under PHP's own session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from dynlan.host._values import check_value, decode, encode
from dynlan.sessions._stores import SessionStore, SessionStoreError

if TYPE_CHECKING:
    from dynlan.config import SessionsConfig
    from dynlan.host._context import PageContext

log = logging.getLogger("dynlan")

MAX_SESSION_BYTES = 1024 * 1024
"""Largest encoded session (or PHP session) a page may keep."""
_ID = re.compile(r"[A-Za-z0-9_-]{22,64}")
_PHP_ID = re.compile(r"[A-Za-z0-9,-]{22,256}")
"""What PHP's session ids are made of (session.sid_bits_per_character 4 to 6)."""
WARN_EVERY = 60.0


class SessionService:
    """The server's sessions: the store, the cookie's name and lifetime, the signing key."""

    def __init__(self, cfg: SessionsConfig, store: SessionStore) -> None:
        self.store = store
        self.cookie = cfg.cookie
        self.max_age = cfg.max_age
        self.on_error = cfg.on_error
        self._secret = cfg.secret.encode() if cfg.secret else None
        self._warned = 0.0
        self.failures = 0

    @property
    def local(self) -> bool:
        return self.store.local

    def secret_nowait(self) -> bytes:
        if self._secret is None:
            self._secret = self.store.secret_nowait().encode()
        return self._secret

    async def secret(self) -> bytes:
        if self._secret is None:
            self._secret = (await self.store.secret()).encode()
        return self._secret

    @staticmethod
    def signature(secret: bytes, namespace: str, sid: str) -> str:
        digest = hmac.new(secret, f"{namespace}\0{sid}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def verify(self, secret: bytes, namespace: str, value: str | None) -> str | None:
        """The session id a cookie value carries, if this server signed it for this site."""
        if not value:
            return None
        sid, dot, signature = value.partition(".")
        if not dot or not _ID.fullmatch(sid):
            return None
        # Compared in constant time: how long a wrong signature takes says nothing of the right one.
        if not hmac.compare_digest(signature, self.signature(secret, namespace, sid)):
            return None
        return sid

    def failed(self, exc: Exception, ctx: PageContext | None = None) -> None:
        """A store failure: raised to the page (`closed`), or logged once a minute and ignored (`open`).

        Closed, a page that does not catch the error is answered 503 rather than 500: the store is away, the page
        is not at fault (`dynlan.host._run`)."""
        self.failures += 1
        if self.on_error == "closed":
            if ctx is not None:
                ctx.unavailable = "sessions are unavailable"
            raise RuntimeError(f"sessions are unavailable: {exc}") from None
        now = time.monotonic()
        if now - self._warned > WARN_EVERY:
            self._warned = now
            log.warning("sessions not kept (on_error = \"open\"): %s", exc)

    def statistics(self) -> dict[str, int | float]:
        return {"failures": self.failures}


class PageSession:
    """One request's session: loaded on first use, written through on every change."""

    __slots__ = ("service", "ctx", "namespace", "loaded", "sid", "data", "secret", "token", "cookie_sent")

    def __init__(self, service: SessionService, ctx: PageContext, namespace: str) -> None:
        self.service = service
        self.ctx = ctx
        self.namespace = namespace
        self.loaded = False
        self.sid: str | None = None
        self.data: dict[str, Any] = {}
        self.secret: bytes | None = None
        self.token = secrets.token_hex(16)
        """Names this request as the holder of a PHP session's lock."""
        self.cookie_sent = False

    @property
    def ready(self) -> bool:
        """Loaded, or the store answers at once: the call can be answered without waiting."""
        return self.loaded or self.service.local

    def _key(self, sid: str) -> str:
        return f"{self.namespace}\0s\0{sid}"

    # -- loading -------------------------------------------------------------------------

    def _found(self, sid: str | None, raw: bytes | None) -> None:
        self.loaded = True
        if sid is None or raw is None:
            return  # no session, or one that expired: a `set` starts a new one
        value = decode(raw)
        if isinstance(value, dict):
            self.sid, self.data = sid, value
            self.ctx.session_private = True  # a response made from one user's session is never shared

    def load_nowait(self) -> None:
        if self.loaded:
            return
        service = self.service
        try:
            self.secret = service.secret_nowait()
            sid = service.verify(self.secret, self.namespace, self.ctx.cookies.get(service.cookie))
            self._found(sid, service.store.load_nowait(self._key(sid), service.max_age) if sid else None)
        except SessionStoreError as exc:
            self.loaded = True
            service.failed(exc, self.ctx)

    async def load(self) -> None:
        if self.loaded:
            return
        service = self.service
        try:
            self.secret = await service.secret()
            sid = service.verify(self.secret, self.namespace, self.ctx.cookies.get(service.cookie))
            self._found(sid, await service.store.load(self._key(sid), service.max_age) if sid else None)
        except SessionStoreError as exc:
            self.loaded = True
            service.failed(exc, self.ctx)

    # -- changes (the session is loaded) ---------------------------------------------------

    def _new_id(self) -> str | None:
        """A fresh id with its cookie; returns the id it replaces."""
        old = self.sid
        self.sid = secrets.token_urlsafe(16)
        self._send_cookie()
        self.ctx.session_private = True
        return old

    def _send_cookie(self) -> None:
        """The session's cookie, with a full `max_age` again: the store keeps a session `max_age` past its last
        change, and so does the browser."""
        assert self.sid is not None and self.secret is not None
        self._cookie(f"{self.sid}.{self.service.signature(self.secret, self.namespace, self.sid)}",
                     int(self.service.max_age))
        self.cookie_sent = True

    def _cookie(self, value: str, max_age: int) -> None:
        ctx = self.ctx
        ctx.response.set_cookie(self.service.cookie, value, {
            "path": "/", "httponly": True, "samesite": "Lax", "max-age": max_age,
            "secure": ctx.request.scheme == "https",
        })

    def _encoded(self) -> bytes:
        data = encode(self.data)
        if len(data) > MAX_SESSION_BYTES:
            raise ValueError(f"the session would hold {len(data)} bytes, more than {MAX_SESSION_BYTES}")
        return data

    def change(self, op: str, key: str | None, value: Any = None) -> list[tuple[str, str, bytes]]:
        """Make `op` (set/delete/regenerate) on the loaded session; the store writes it needs, in order:
        ("save", key, data) or ("delete", key, b"")."""
        writes: list[tuple[str, str, bytes]] = []
        if self.secret is None and (op == "regenerate" or (op == "set" and self.sid is None)):
            # The store never answered (on_error = "open" let the page go on): no key to sign a new id with.
            self.service.failed(SessionStoreError("the session store did not answer; no session was started"), self.ctx)
            return writes
        if op == "set" and self.sid is not None and not self.cookie_sent and self.secret is not None:
            self._send_cookie()
        if op == "set":
            assert key is not None
            check_value(value)
            before = self.data.get(key)
            self.data[key] = value
            try:
                data = self._encoded()
            except ValueError:
                if before is None:
                    self.data.pop(key, None)
                else:
                    self.data[key] = before
                raise
            if self.sid is None:
                self._new_id()
            assert self.sid is not None
            writes.append(("save", self._key(self.sid), data))
        elif op == "delete":
            if self.sid is None:
                self.data.clear()
                return writes
            if key is None or (key in self.data and len(self.data) == 1):
                # The whole session: gone from the store, and the cookie expired.
                writes.append(("delete", self._key(self.sid), b""))
                self.sid = None
                self.data = {}
                self._cookie("", 0)
            elif key in self.data:
                del self.data[key]
                writes.append(("save", self._key(self.sid), self._encoded()))
        elif op == "regenerate":
            old = self._new_id()
            if old is not None:
                writes.append(("delete", self._key(old), b""))
            assert self.sid is not None
            writes.append(("save", self._key(self.sid), self._encoded()))
        return writes

    def write_nowait(self, writes: list[tuple[str, str, bytes]]) -> None:
        store, max_age = self.service.store, self.service.max_age
        try:
            for kind, key, data in writes:
                if kind == "save":
                    store.save_nowait(key, data, max_age)
                else:
                    store.delete_nowait(key)
        except SessionStoreError as exc:
            self.service.failed(exc, self.ctx)

    async def write(self, writes: list[tuple[str, str, bytes]]) -> None:
        store, max_age = self.service.store, self.service.max_age
        try:
            for kind, key, data in writes:
                if kind == "save":
                    await store.save(key, data, max_age)
                else:
                    await store.delete(key)
        except SessionStoreError as exc:
            self.service.failed(exc, self.ctx)

    # -- PHP's $_SESSION, by PHP's own id ------------------------------------------------------

    def php_key(self, sid: Any) -> str:
        if not isinstance(sid, str) or not _PHP_ID.fullmatch(sid):
            raise ValueError("not a PHP session id")
        self.ctx.session_private = True
        return f"{self.namespace}\0php\0{sid}"


def php_data(value: Any) -> bytes:
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if not isinstance(data, bytes):
        raise ValueError("PHP session data is a string")
    if len(data) > MAX_SESSION_BYTES:
        raise ValueError(f"the session would hold {len(data)} bytes, more than {MAX_SESSION_BYTES}")
    return data
