"""URL path -> file, safely. Sans-I/O apart from stat calls on the site tree.

Path traversal defences (CWE-22): the path is percent-decoded exactly once,
then rejected if it holds a NUL, a backslash, an encoded slash, or a `..`
segment; dotfiles, `_` names and the site's `dynlan.toml` are never served;
and the final file's realpath must stay inside the site root, so a symlink
cannot lead out of it.
"""

from __future__ import annotations

import os
import stat as statmod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_to_bytes


class StaticError(Exception):
    """A request path that must be refused with `status`."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status} {message}")


@dataclass(frozen=True, slots=True)
class Resolved:
    kind: Literal["file", "listing", "redirect", "missing"]
    fs_path: str
    url_path: str
    redirect_to: str | None = None


def decode_path(raw_path: str) -> list[str]:
    """The path's segments, decoded once and checked (raises StaticError)."""
    if not raw_path.startswith("/"):
        raise StaticError(400, "path must start with '/'")
    lowered = raw_path.lower()
    if "\x00" in raw_path or "%00" in lowered:
        raise StaticError(400, "NUL byte in path")
    if "\\" in raw_path or "%5c" in lowered:
        raise StaticError(400, "backslash in path")
    if "%2f" in lowered:
        raise StaticError(400, "encoded slash in path")
    try:
        decoded = unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        raise StaticError(400, "path is not valid UTF-8") from None
    segments = [s for s in decoded.split("/") if s and s != "."]
    for s in segments:
        if s == "..":
            raise StaticError(400, "'..' in path")
    return segments


def _hidden(segments: Sequence[str]) -> bool:
    return any(s.startswith((".", "_")) for s in segments) or segments == ["dynlan.toml"]


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def resolve(
    root: str,
    raw_path: str,
    *,
    index_names: Sequence[str] = ("index.html",),
    clean_url_suffixes: Sequence[str] = (".html",),
    listing: bool = False,
) -> Resolved:
    segments = decode_path(raw_path)
    url_path = "/" + "/".join(segments)
    missing = Resolved("missing", "", url_path)
    if _hidden(segments):
        return missing
    fs_path = os.path.join(root, *segments)
    st = _stat(fs_path)
    if st is None:
        if segments and clean_url_suffixes and not raw_path.endswith("/"):
            for suffix in clean_url_suffixes:
                candidate = fs_path + suffix
                cst = _stat(candidate)
                if cst is not None and statmod.S_ISREG(cst.st_mode) and _inside(root, candidate):
                    return Resolved("file", candidate, url_path)
        return missing
    if not _inside(root, fs_path):
        return missing
    if statmod.S_ISDIR(st.st_mode):
        if not raw_path.endswith("/"):
            return Resolved("redirect", fs_path, url_path, raw_path + "/")
        for name in index_names:
            candidate = os.path.join(fs_path, name)
            cst = _stat(candidate)
            if cst is not None and statmod.S_ISREG(cst.st_mode) and _inside(root, candidate):
                return Resolved("file", candidate, url_path)
        if listing:
            return Resolved("listing", fs_path, url_path.rstrip("/") + "/")
        return missing
    if not statmod.S_ISREG(st.st_mode):
        return missing
    return Resolved("file", fs_path, url_path)
