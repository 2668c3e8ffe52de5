"""File-based page routes.

`hello.lua` answers `/hello`, `index.<suffix>` answers its folder's URL, and
`[name]` in a file or folder name is a route parameter: `users/[id].lua`
answers `/users/42` with `id = "42"`. Names starting with `.` or `_` are never
routes (`_lib/` holds modules pages import). A page suffix may have several
dots (`.txt.tmpl`); the longest suffix a name ends with decides its runtime
and its URL (`notes.txt.tmpl` answers `/notes`).

Two pages on one URL (`hello.lua` beside `hello.py`) stop the server at
start-up; one that appears while serving is logged and the URL keeps its page
(see `Router.rescan`).

A runtime that takes path info (PHP) also answers a path that continues past
its page's file name: `/info.php/a/b` runs `info.php` with `/a/b` as its
CGI PATH_INFO (RFC 3875 §4.1.5).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from dynlan.config import ConfigError
from dynlan.static import StaticError, decode_path

log = logging.getLogger("dynlan")


@dataclass(frozen=True, slots=True)
class Route:
    pattern: tuple[str, ...]
    """URL segments; a segment `[name]` matches any one segment."""
    file: str
    """Absolute path of the page file."""
    name: str
    """Path relative to the site root, for messages."""
    runtime: str
    index: bool

    @property
    def dynamic(self) -> bool:
        return any(s.startswith("[") for s in self.pattern)

    @property
    def url(self) -> str:
        """The URL the page answers, for people: `/`, `/docs/`, `/hello`, `/users/[id]`."""
        path = "/" + "/".join(self.pattern)
        return path + "/" if self.index and self.pattern else path


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, str]
    path_info: str = ""
    """The decoded path after the page's file name (`/a/b` for `/info.php/a/b`), or ""."""


def _param(segment: str) -> str | None:
    if len(segment) > 2 and segment[0] == "[" and segment[-1] == "]":
        return segment[1:-1]
    return None


def _hidden(segments: Iterable[str]) -> bool:
    return any(s.startswith((".", "_")) for s in segments)


class Router:
    """The page routes of one site."""

    RESCAN_INTERVAL = 1.0

    def __init__(
        self, root: str, suffixes: dict[str, str], path_info: frozenset[str] = frozenset(),
        previous: Router | None = None,
    ) -> None:
        """Scan the site at `root`: strictly at start-up; given the `previous` router of a serving site
        (a reload), as a rescan is (a conflict keeps the page the URL had, and is logged once)."""
        self.root = root
        self.suffixes = suffixes
        """Page suffix -> runtime name."""
        self.path_info = path_info
        """Page suffixes whose pages also answer paths that continue past their file name."""
        self._longest_first = sorted(suffixes, key=lambda s: (-len(s), s))
        self.exact: dict[tuple[str, ...], Route] = {}
        self.dynamic: list[Route] = []
        self.by_file: dict[str, Route] = {}
        self._conflicts: set[tuple[str, ...]] = set()
        """The conflicts the last rescan logged (the names of the pages on each URL), so each is logged once."""
        self._scanned_at = 0.0
        if previous is not None and previous.root == root:
            self.by_file = dict(previous.by_file)
            self._conflicts = set(previous._conflicts)
            self.rescan()
        else:
            self.scan()

    def page_suffix(self, filename: str) -> str | None:
        """The longest page suffix `filename` ends with (`.txt.tmpl` before `.tmpl`), or None.

        Unlike `runtime_for`, hidden names are not excluded: `.x.php` has the suffix `.php`.
        """
        for suffix in self._longest_first:
            if filename.endswith(suffix) and len(filename) > len(suffix):
                return suffix
        return None

    def runtime_for(self, filename: str) -> str | None:
        """The runtime that runs a file of this name (a base name, no folder), or None if it is no page.

        The longest page suffix the name ends with decides, so with `.tmpl` and
        `.txt.tmpl` declared, `a.txt.tmpl` is a `.txt.tmpl` page. Names starting
        with `.` or `_` are never pages.
        """
        if filename.startswith((".", "_")):
            return None
        suffix = self.page_suffix(filename)
        return None if suffix is None else self.suffixes[suffix]

    def scan(self) -> None:
        """Walk the site and build the route table; two pages on one URL is a ConfigError.

        Used at start-up, where a conflict stops the server before it listens.
        """
        self._build(strict=True)

    def rescan(self) -> None:
        """Walk the site again while serving, picking up pages added or removed since the last scan.

        A conflict that appears now (`hello.py` put beside `hello.lua`) cannot
        stop a server that is already answering: it is logged once, naming both
        files and the URL, and the URL keeps the page that answered it before;
        if all its pages are new, the first by name answers (`hello.lua` before
        `hello.py`, as files sort). Every other URL is updated.
        """
        self._build(strict=False)

    def _build(self, *, strict: bool) -> None:
        # (dynamic, shape) -> the pages that answer it, in walk order (folders and files sorted by name).
        candidates: dict[tuple[bool, tuple[str, ...]], list[Route]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
            rel_dir = os.path.relpath(dirpath, self.root)
            parts = () if rel_dir == "." else tuple(rel_dir.split(os.sep))
            for filename in sorted(filenames):
                if filename.startswith((".", "_")):
                    continue
                suffix = self.page_suffix(filename)
                if suffix is None:
                    continue
                stem = filename[: -len(suffix)]
                index = stem == "index"
                pattern = parts if index else (*parts, stem)
                name = "/".join((*parts, filename))
                route = Route(pattern, os.path.join(dirpath, filename), name, self.suffixes[suffix], index)
                # Two dynamic routes with the same shape ([id] vs [name]) also clash.
                shape = tuple("[]" if _param(s) else s for s in pattern) + (("/",) if index else ())
                candidates.setdefault((route.dynamic, shape), []).append(route)
        before = {r.file for r in self.by_file.values()}
        chosen: list[Route] = []
        conflicts: set[tuple[str, ...]] = set()
        for routes in candidates.values():
            if len(routes) > 1:
                names = tuple(r.name for r in routes)
                if strict:
                    raise ConfigError(f"{self.root}: pages {' and '.join(names)} both answer the same URL {routes[0].url}")
                kept = next((r for r in routes if r.file in before), routes[0])
                conflicts.add(names)
                if names not in self._conflicts:
                    log.warning("%s: pages %s both answer %s; %s keeps answering it until the others are renamed",
                                self.root, " and ".join(names), kept.url, kept.name)
                routes = [kept]
            chosen.append(routes[0])
        self._conflicts = conflicts
        exact = [r for r in chosen if not r.dynamic]
        self.exact = {r.pattern + (("",) if r.index else ()): r for r in exact}
        self.by_file = {r.file: r for r in chosen}
        # More literal segments first, then fewer parameters: /users/new beats /users/[id].
        self.dynamic = sorted(
            (r for r in chosen if r.dynamic),
            key=lambda r: (-len(r.pattern), sum(1 for s in r.pattern if _param(s)), r.name),
        )
        self._scanned_at = time.monotonic()

    def routes(self) -> list[Route]:
        """Every page route: fixed URLs by URL, then dynamic ones in the order they are tried."""
        return sorted(self.exact.values(), key=lambda r: r.url) + self.dynamic

    @property
    def runtimes_used(self) -> set[str]:
        return {r.runtime for r in self.exact.values()} | {r.runtime for r in self.dynamic}

    def _lookup(self, segments: tuple[str, ...], trailing_slash: bool) -> Match | None:
        key = (*segments, "") if trailing_slash else segments
        route = self.exact.get(key)
        if route is not None:
            return Match(route, {})
        for route in self.dynamic:
            pattern = route.pattern
            if route.index != trailing_slash or len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, segments, strict=True):
                name = _param(want)
                if name is not None:
                    params[name] = got
                elif want != got:
                    break
            else:
                return Match(route, params)
        return None

    def match(self, raw_path: str) -> Match | None:
        """The page for a URL path (percent-encoded as received), or None."""
        path = unquote(raw_path, errors="strict") if "%" in raw_path else raw_path
        if "\x00" in path:
            return None
        trailing = path.endswith("/")
        segments = tuple(s for s in path.split("/") if s)
        if _hidden(segments):
            return None
        return self._lookup(segments, trailing)

    def split_path_info(self, raw_path: str) -> Match | None:
        """The page a path names by its file, with the rest of the path as path info, or None.

        As nginx's `fastcgi_split_path_info` on the decoded, normalised URI, but
        safe against the known tricks without PHP's own guessing: the split is
        at the first segment ending in a path-info suffix that is a page file of
        the site (a regular file the router knows: never a folder named `x.php`,
        a hidden or `_` name, or a dynamic `[name]` page), so
        `/uploads/image.jpg/x.php` never runs image.jpg. A NUL, a backslash, an
        encoded slash, `..` or invalid UTF-8 split nothing (the static layer
        answers 400 for them), and no segment may start with `.` or `_`.
        """
        if not self.path_info:
            return None
        try:
            segments = decode_path(raw_path)
        except StaticError:
            return None
        if _hidden(segments):
            return None
        trailing = raw_path.endswith("/")
        for i, segment in enumerate(segments):
            rest = segments[i + 1 :]
            if not rest and not trailing:
                break  # the whole path names the page: a plain route, not path info
            if self.page_suffix(segment) not in self.path_info:
                continue
            route = self.by_file.get(os.path.join(self.root, *segments[: i + 1]))
            if route is None or route.dynamic or not os.path.isfile(route.file):
                continue
            return Match(route, {}, "/" + "/".join(rest) + ("/" if trailing and rest else ""))
        return None

    def folder_redirect(self, raw_path: str) -> bool:
        """True when `path + "/"` has an index page (so `path` should redirect)."""
        if raw_path.endswith("/"):
            return False
        path = unquote(raw_path)
        segments = tuple(s for s in path.split("/") if s)
        return (*segments, "") in self.exact

    def maybe_rescan(self) -> bool:
        """Pick up pages added or removed since the last scan, at most once a second (see `rescan`)."""
        if time.monotonic() - self._scanned_at < self.RESCAN_INTERVAL:
            return False
        self.rescan()
        return True
