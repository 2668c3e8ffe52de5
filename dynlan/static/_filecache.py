"""File contents in memory, keyed by path and checked against the file's identity.

An entry is used only while the file's (inode, size, mtime) still match the
`stat` the caller just made, so an edited file is never served stale.
"""

from __future__ import annotations

import os
from collections import OrderedDict


class FileCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024, max_file: int = 256 * 1024) -> None:
        self.max_bytes = max_bytes
        self.max_file = max_file
        self._entries: OrderedDict[str, tuple[tuple[int, int, int], bytes]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    @staticmethod
    def signature(st: os.stat_result) -> tuple[int, int, int]:
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def get(self, path: str, st: os.stat_result) -> bytes | None:
        entry = self._entries.get(path)
        if entry is not None and entry[0] == self.signature(st):
            self._entries.move_to_end(path)
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def put(self, path: str, st: os.stat_result, data: bytes) -> None:
        if len(data) > self.max_file or len(data) != st.st_size:
            return
        old = self._entries.pop(path, None)
        if old is not None:
            self._bytes -= len(old[1])
        self._entries[path] = (self.signature(st), data)
        self._bytes += len(data)
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= len(dropped)

    def statistics(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": self._bytes, "hits": self.hits, "misses": self.misses}
