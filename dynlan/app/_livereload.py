"""Live reload in `--dev`: HTML pages a browser loads carry a small script that reloads them when a file of their
site changes.

The script listens to the server's own event stream at `LIVE_PATH` (a path no site can serve: names starting
with `_` are private). Each site's folder is watched (watchfiles: inotify, or polling where there is none) by one
task per worker, started when the site first answers an HTML page in `--dev` and owned by the app's nursery.
A change of any file of the site (a page, a `_lib` module, a static file, a template, `dynlan.toml`) moves the
site's stamp, and every stream of the site sends `reload`.

A stream is held open for `HOLD` seconds at most, then ends; the browser's EventSource comes back on its own
after `RETRY_MS` with the stamp it last saw (`Last-Event-ID`), and a change it missed in between is sent at once.
A stream that ends by itself keeps a graceful stop of the server from waiting on an open tab for long. The stamp
is the newest modification time of the site's files, so a page served by one worker and a stream answered by
another agree, and a restarted server does not reload pages that are current.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from dynlan.app._exchange import SiteExchange
from dynlan.http import Exchange

if TYPE_CHECKING:
    from dynlan.app._app import App
    from dynlan.app._sites import Site

log = logging.getLogger("dynlan")
# watchfiles logs each batch of changes at INFO: the reload itself is what shows.
logging.getLogger("watchfiles").setLevel(logging.WARNING)

LIVE_PATH = "/_dynlan/live-reload"
HOLD = 4.0
"""Seconds a stream stays open without a change before it ends (the browser then opens the next one)."""
RETRY_MS = 200
DEBOUNCE_MS = 50
"""Changes this close together (an editor's write, rename and chmod) are one reload."""
IGNORED_FOLDERS = frozenset({".git", "__pycache__", "node_modules", ".hg", ".svn"})

# The script every HTML answer gets in --dev: the stamp of the files it was made from rides along, so a change
# between this answer and the stream's start is not missed.
_SCRIPT = (
    '\n<script data-dynlan-live-reload>/* dynlan --dev: reloads this page when a file of the site changes */'
    '(()=>{{const s=new EventSource("{path}?since={stamp}");'
    's.addEventListener("reload",()=>{{s.close();location.reload();}});}})();</script>\n'
)


@dataclass
class _Watch:
    """One site's watched folder: the stamp of its newest change, and an event set at the next one."""

    stamp: int
    changed: trio.Event = field(default_factory=trio.Event)
    last: str = ""
    """The file of the latest change, relative to the site."""


def newest_mtime(root: str) -> int:
    """The newest modification time (ns) of the files under `root`, the folder's own included."""
    newest = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in IGNORED_FOLDERS]
        for name in (*files, "."):
            try:
                newest = max(newest, os.stat(os.path.join(folder, name), follow_symlinks=False).st_mtime_ns)
            except OSError:
                continue
    return newest


class LiveReload:
    """The watches of one worker's sites, and the event stream pages listen to."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._watches: dict[str, _Watch] = {}

    def watch(self, site: Site) -> _Watch | None:
        """The site's watch, started on first use (None while the app is not running)."""
        watch = self._watches.get(site.root)
        if watch is not None:
            return watch
        host = self.app.host
        if host is None or host.nursery is None:
            return None
        watch = self._watches[site.root] = _Watch(newest_mtime(site.root))
        host.nursery.start_soon(self._follow, site.root, watch)
        return watch

    async def _follow(self, root: str, watch: _Watch) -> None:
        import watchfiles

        def wanted(change: watchfiles.Change, path: str) -> bool:
            return not IGNORED_FOLDERS.intersection(os.path.relpath(path, root).split(os.sep))

        # The watcher's thread checks this event every step: set the moment the worker stops, it ends the watch at
        # once (cancelling the task alone waits for the thread's own timeout, seconds).
        stop = trio.Event()

        async def stop_when_cancelled() -> None:
            try:
                await trio.sleep_forever()
            finally:
                stop.set()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stop_when_cancelled)
                await self._changes(watchfiles.awatch(root, watch_filter=wanted, debounce=DEBOUNCE_MS,
                                                      step=DEBOUNCE_MS, stop_event=stop), root, watch)
                nursery.cancel_scope.cancel()
        except Exception as exc:  # the watcher is a dev aid: its failure must not end the worker
            # Out of inotify watches, a folder gone: pages are still served, they just do not reload. The watch
            # stays, so the next request does not start another that fails the same way.
            log.warning("live reload cannot watch %s: %s", root, exc)

    @staticmethod
    async def _changes(batches: Any, root: str, watch: _Watch) -> None:
        async for changes in batches:
            stamp = 0
            for _, path in changes:
                try:
                    stamp = max(stamp, os.stat(path, follow_symlinks=False).st_mtime_ns)
                except OSError:
                    stamp = max(stamp, time.time_ns())  # removed: now is when it changed
            watch.stamp = max(stamp, watch.stamp + 1)
            watch.last = os.path.relpath(sorted(p for _, p in changes)[0], root)
            changed, watch.changed = watch.changed, trio.Event()
            changed.set()

    def exchange(self, inner: Exchange, site: Site) -> SiteExchange:
        """The request's exchange, which adds the reload script to the HTML it answers with."""
        request = inner.request
        watch = self.watch(site)
        if watch is None:
            return SiteExchange(inner, site.config.http.max_body_size)
        script = None
        if "text/html" in (request.headers.get("accept") or "") and request.path != LIVE_PATH:
            # A browser's page load (a script, curl or fetch() asks for */* and gets the page as it is): answered
            # uncompressed, so that the script can be added to it.
            request.headers.remove("accept-encoding")
            script = _SCRIPT.format(path=LIVE_PATH, stamp=watch.stamp).encode()
        return ReloadingExchange(inner, site.config.http.max_body_size, script)

    async def stream(self, ex: SiteExchange, site: Site) -> None:
        """`GET LIVE_PATH`: `reload` once the site changed after the stamp the page had, else nothing for `HOLD`."""
        watch = self.watch(site)
        if watch is None:
            await ex.respond(503, [("content-type", "text/plain"), ("cache-control", "no-store")], b"not running\n")
            return
        seen = max(_stamp(ex.request.query.get("since", [""])[0]), _stamp(ex.request.headers.get("last-event-id")))
        await ex.send_head(200, [("content-type", "text/event-stream"), ("cache-control", "no-store")])
        await ex.send_body(f"retry: {RETRY_MS}\n\n".encode())
        changed = watch.changed
        if watch.stamp <= seen:
            with trio.move_on_after(HOLD):
                await changed.wait()
        if watch.stamp > seen:
            await ex.send_body(f"id: {watch.stamp}\nevent: reload\ndata: {watch.last}\n\n".encode())
        else:
            await ex.send_body(f"id: {watch.stamp}\n\n".encode())
        await ex.finish()


def _stamp(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 25 else 0


def _wants_script(status: int, headers: list[tuple[str, str]]) -> bool:
    if status < 200 or status in (204, 206, 304):
        return False
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    return ctype.lower().startswith("text/html") and not any(k.lower() == "content-encoding" for k, _ in headers)


def _longer(headers: list[tuple[str, str]], extra: int) -> list[tuple[str, str]]:
    return [(k, str(int(v) + extra)) if k.lower() == "content-length" and v.isdigit() else (k, v) for k, v in headers]


def _revalidated(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Without a Cache-Control, a browser keeps a file fresh for a tenth of its age (RFC 9111 §4.2.2), and a page
    # reloaded after an edit would show the stylesheet of before: in --dev every answer is revalidated.
    if any(k.lower() == "cache-control" for k, _ in headers):
        return headers
    return [*headers, ("cache-control", "no-cache")]


class ReloadingExchange(SiteExchange):
    """A site's exchange in `--dev`: an HTML answer (whole, streamed or a file) to a browser's page load ends with
    the reload script, and every answer without a Cache-Control is revalidated by the browser."""

    __slots__ = ("_pending", "_script")

    def __init__(self, inner: Exchange, max_body_size: int, script: bytes | None) -> None:
        super().__init__(inner, max_body_size)
        self._script = script
        self._pending = False

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self._script is not None and _wants_script(status, headers):
            headers = _longer(headers, len(self._script))
            if self.request.method != "HEAD":
                body += self._script
        await super().respond(status, _revalidated(headers), body)

    async def send_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self._script is not None and _wants_script(status, headers):
            headers = _longer(headers, len(self._script))
            self._pending = self.request.method != "HEAD"
        await super().send_head(status, _revalidated(headers))

    async def finish(self, trailers: Sequence[tuple[str, str]] = ()) -> None:
        if self._pending and self._script is not None:
            self._pending = False
            await super().send_body(self._script)
        await super().finish(trailers)
