"""Sessions shared by every worker and instance: the per-request session (`_session`) and its stores (`_stores`)."""

from __future__ import annotations

from dynlan.sessions._session import MAX_SESSION_BYTES, PageSession, SessionService, php_data
from dynlan.sessions._stores import MemorySessions, RedisSessions, SessionStore, SessionStoreError

__all__ = ["MAX_SESSION_BYTES", "MemorySessions", "PageSession", "RedisSessions", "SessionService", "SessionStore",
           "SessionStoreError", "php_data"]
