"""URL path -> file, safely. Sans-I/O apart from stat calls on the site tree.

Path traversal defences (CWE-22): the path is percent-decoded exactly once,
then rejected if it holds a NUL, a backslash, an encoded slash, or a `..`
segment; dotfiles, `_` names and the site's `dynlan.toml` are never served.

Symbolic links follow the site's `[static] symlinks` policy: `inside` (the
file's realpath must stay inside the site root, so a link cannot lead out of
it), `owner` (a link may lead out when it and what it points to have the same
owner, as Apache's SymLinksIfOwnerMatch: a site owner cannot link to files of
another user, such as /etc/shadow or another site) or `follow` (links are
followed wherever they go: Debian packages ship a web application's assets
as links into /usr/share).
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


SYMLINK_POLICIES = ("inside", "owner", "follow")


@dataclass(frozen=True, slots=True)
class Resolved:
    kind: Literal["file", "listing", "redirect", "missing"]
    fs_path: str
    url_path: str
    redirect_to: str | None = None
    refused: str = ""
    """Why a file that exists is answered as missing (a link the site's policy refuses), for the log."""


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


def link_refusal(root: str, path: str, policy: str = "inside") -> str | None:
    """Why `path` (under the symlink-free `root`) may not be reached through its links, or None.

    Only links that lead out of the site are judged: whatever stays inside is
    the site's own. With `owner`, every link on the way must belong to the
    owner of what it points to.
    """
    if policy == "follow":
        return None
    real = os.path.realpath(path)
    if real == root or real.startswith(root + os.sep):
        return None
    if policy != "owner":
        return f"a link leads out of the site (to {real}); [static] symlinks = \"{policy}\""
    current = root
    for part in os.path.relpath(path, root).split(os.sep):
        current = os.path.join(current, part)
        try:
            link = os.lstat(current)
            if not statmod.S_ISLNK(link.st_mode):
                continue
            target = os.stat(current)
        except (OSError, ValueError):
            return f"{os.path.relpath(current, root)}: cannot be read"
        if link.st_uid != target.st_uid:
            return (f"the link {os.path.relpath(current, root)} (owner uid {link.st_uid}) leads to "
                    f"{os.path.realpath(current)} of another owner (uid {target.st_uid}); [static] symlinks = \"owner\"")
    return None


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
    symlinks: str = "inside",
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
                if cst is not None and statmod.S_ISREG(cst.st_mode):
                    refused = link_refusal(root, candidate, symlinks)
                    if refused is not None:
                        return Resolved("missing", "", url_path, refused=refused)
                    return Resolved("file", candidate, url_path)
        return missing
    refused = link_refusal(root, fs_path, symlinks)
    if refused is not None:
        return Resolved("missing", "", url_path, refused=refused)
    if statmod.S_ISDIR(st.st_mode):
        if not raw_path.endswith("/"):
            return Resolved("redirect", fs_path, url_path, raw_path + "/")
        for name in index_names:
            candidate = os.path.join(fs_path, name)
            cst = _stat(candidate)
            if cst is not None and statmod.S_ISREG(cst.st_mode):
                refused = link_refusal(root, candidate, symlinks)
                if refused is not None:
                    return Resolved("missing", "", url_path, refused=refused)
                return Resolved("file", candidate, url_path)
        if listing:
            return Resolved("listing", fs_path, url_path.rstrip("/") + "/")
        return missing
    if not statmod.S_ISREG(st.st_mode):
        return missing
    return Resolved("file", fs_path, url_path)
