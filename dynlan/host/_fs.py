"""Files inside the site root, for pages: read, exists, list, stat.

Every path is resolved against the site root and must stay inside it after
symlinks are followed (prevents reading /etc/passwd through `../` or a link).
"""

from __future__ import annotations

import os
import stat as statmod
from dataclasses import dataclass


class FsError(Exception):
    """A page asked for a path outside the site root, or a file that cannot be read."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    size: int
    mtime: float
    is_dir: bool


class SiteFs:
    def __init__(self, root: str, max_read: int = 64 * 1024 * 1024) -> None:
        self.root = os.path.realpath(root)
        self.max_read = max_read

    def resolve(self, path: str) -> str:
        if not isinstance(path, str) or "\x00" in path:
            raise FsError("invalid path")
        joined = os.path.normpath(os.path.join(self.root, path.lstrip("/")))
        real = os.path.realpath(joined)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise FsError(f"path '{path}' is outside the site root")
        return real

    def read(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def read_bytes(self, path: str) -> bytes:
        real = self.resolve(path)
        try:
            with open(real, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > self.max_read:
                    raise FsError(f"'{path}' is larger than {self.max_read} bytes")
                # Read what the file holds (+1 to notice growth), not the cap:
                # a read sized to the cap would allocate it up front.
                data = f.read(size + 1)
        except FileNotFoundError:
            raise FsError(f"no such file: '{path}'") from None
        except IsADirectoryError:
            raise FsError(f"'{path}' is a folder") from None
        except OSError as exc:
            raise FsError(f"cannot read '{path}': {exc.strerror}") from None
        if len(data) > self.max_read:
            raise FsError(f"'{path}' is larger than {self.max_read} bytes")
        return data

    def exists(self, path: str) -> bool:
        try:
            return os.path.exists(self.resolve(path))
        except FsError:
            return False

    def list(self, path: str = ".") -> list[str]:
        real = self.resolve(path)
        try:
            return sorted(n for n in os.listdir(real) if not n.startswith("."))
        except NotADirectoryError:
            raise FsError(f"'{path}' is not a folder") from None
        except OSError as exc:
            raise FsError(f"cannot list '{path}': {exc.strerror}") from None

    def stat(self, path: str) -> FileInfo | None:
        real = self.resolve(path)
        try:
            st = os.stat(real)
        except OSError:
            return None
        return FileInfo(os.path.basename(real), st.st_size, st.st_mtime, statmod.S_ISDIR(st.st_mode))
