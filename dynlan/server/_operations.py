"""Control operations: what a message on the control socket (`dynlan cache purge`, `dynlan reload`) does.

One message, one operation, one JSON reply; a refusal is `{"ok": false, "error": ...}`:

- `purge`: drop cached page responses by `path` (a trailing `*` matches a prefix), `tag` or `all`,
  optionally of one `site` only; replies with how many this process dropped.
- `stats`: this process's response-cache statistics, host counters and the pages running now.
- `reload`: re-read the server config and every site's `dynlan.toml`, and swap them in (see
  `dynlan/app/_reload.py`); a bad config is refused and the running one kept.

Each serving process answers for itself: the CLI sends a message to every process of the server.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynlan.app import App
    from dynlan.server._replay import ReplayCache

Reload = Callable[[], Awaitable[dict[str, Any]]]
"""Re-reads and swaps in the configuration; returns the reply of the `reload` operation."""


class Operations:
    """The control operations of one serving process, on its app."""

    def __init__(self, app: App, reload: Reload | None = None) -> None:
        self.app = app
        self._reload = reload
        self.replay: ReplayCache | None = None
        """The server's kept static answers, for `stats` (set by the server)."""

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        """Answer one control message."""
        op = message.get("op")
        if op == "purge":
            return self.purge(message)
        if op == "stats":
            return self.stats()
        if op == "reload":
            if self._reload is None:
                return {"ok": False, "error": "this process cannot reload its configuration"}
            return await self._reload()
        return {"ok": False, "error": f"unknown control operation {op!r}"}

    def stats(self) -> dict[str, Any]:
        host = self.app.host
        responses = host.responses if host is not None else None
        return {"ok": True, "pid": os.getpid(),
                "responses": responses.statistics() if responses is not None else None,
                "counters": dict(host.counters) if host is not None else {},
                "pages_running": len(host.inflight) if host is not None else 0,
                "replayed": self.replay.hits if self.replay is not None else 0}

    def purge(self, message: dict[str, Any]) -> dict[str, Any]:
        """Drop cached responses: by path, tag or all, optionally of one site."""
        host = self.app.host
        responses = host.responses if host is not None else None
        site, path, tag = message.get("site"), message.get("path"), message.get("tag")
        for value in (site, path, tag):
            if value is not None and not isinstance(value, str):
                return {"ok": False, "error": "site, path and tag are strings"}
        if site is not None and site not in self.app.sites:
            return {"ok": False, "error": f"no site named {site!r}"}
        if path is None and tag is None and not message.get("all"):
            return {"ok": False, "error": "purge needs a path, a tag or all"}
        purged = responses.purge(site, path=path, tag=tag) if responses is not None else 0
        if host is not None and host.publish_purge is not None and not message.get("relayed"):
            # `dynlan cache purge`: the other instances too, through Redis (a page's purge is published by its worker).
            what = {"path": path} if path is not None else {"tag": tag} if tag is not None else {"all": "1"}
            host.publish_purge({**({"site": site} if site is not None else {}), **what})
        return {"ok": True, "pid": os.getpid(), "purged": purged}
