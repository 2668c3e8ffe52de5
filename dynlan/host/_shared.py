"""State the worker processes of one instance share: a small SQLite database in shared memory.

Rate-limit counters and sessions (with the memory store) must be the same for every worker of an instance:
SO_REUSEPORT hands a client's connections to any of them. The supervisor creates the database file (in
`/dev/shm` where it can) before it starts the workers and names it in `DYNLAN_INSTANCE_STORE`, which they
inherit; a worker that replaces a crashed one opens the same file. SQLite does the locking between processes
(one short `BEGIN IMMEDIATE` transaction per operation), so a read-modify-write such as a rate-limit decision is
atomic across the workers. A process started without a supervisor (tests that run the app in-process) gets a
private file of its own, removed when it closes.

Operations are synchronous and short (microseconds); a worker waits on another's transaction at most
`BUSY_TIMEOUT` seconds, past which the operation fails like an unreachable store.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator

ENV = "DYNLAN_INSTANCE_STORE"
"""The variable naming the instance's database file (set by the supervisor)."""
BUSY_TIMEOUT = 1.0
OPEN_TIMEOUT = 10.0
"""Seconds a process starting may wait for the file's lock while it sets the connection up."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate (key TEXT PRIMARY KEY, tat REAL NOT NULL, nonce INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS session (key TEXT PRIMARY KEY, data BLOB NOT NULL, expires REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage (namespace TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
"""


class SharedStoreError(Exception):
    """The instance's shared store could not answer (a lock held past the timeout, a broken file)."""


PREFIX = "dynlan-instance-"


def create_file() -> str:
    """A new, empty database file only this user can open, in shared memory where there is some (the supervisor).

    Its name carries the creating process's pid: files whose creator is gone (a supervisor killed with SIGKILL
    cannot remove its own) are removed here first, so they do not pile up in shared memory.
    """
    folder = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    remove_stale_files(folder)
    fd, path = tempfile.mkstemp(prefix=f"{PREFIX}{os.getpid()}-", suffix=".sqlite", dir=folder)
    os.close(fd)
    # The journal mode and the tables, once, before any worker opens the file: workers starting together then
    # find them there, and none of them has to write (changing the journal mode takes the file's lock without
    # waiting for it, so two workers doing it at once could fail to start on a busy machine).
    SharedStore(path).close()
    return path


def remove_stale_files(folder: str) -> int:
    """Remove this user's instance files in `folder` whose creating process has ended; how many."""
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(PREFIX) or not name.endswith(".sqlite"):
            continue
        pid_text = name[len(PREFIX):].partition("-")[0]
        if not pid_text.isdigit():
            continue
        path = os.path.join(folder, name)
        try:
            if os.stat(path).st_uid != os.getuid():
                continue
            os.kill(int(pid_text), 0)
            continue  # its process is alive (this one, or an instance still serving)
        except ProcessLookupError:
            pass
        except OSError:
            continue  # gone already, or another user's process: not ours to judge
        remove_file(path)
        removed += 1
    return removed


def remove_file(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            os.unlink(path + suffix)


class SharedStore:
    """One process's connection to the instance's database."""

    def __init__(self, path: str, *, owned: bool = False) -> None:
        self.path = path
        self._owned = owned
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        deadline = time.monotonic() + OPEN_TIMEOUT
        while True:
            try:
                # WAL: readers never wait for the writer; nothing needs to survive a power cut (sessions and
                # counters of a running instance), so no fsync.
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=OFF")
                self._db.executescript(_SCHEMA)
                return
            except sqlite3.Error as exc:
                # Another process holds the file's lock as this one starts: it lets go in microseconds, unless
                # the machine is too busy to run it; starting is not in a hurry.
                locked = isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))
                if not locked or time.monotonic() > deadline:
                    self._db.close()
                    raise SharedStoreError(f"instance store {path}: {exc}") from None
                time.sleep(0.05)

    @classmethod
    def for_process(cls) -> SharedStore:
        """The instance's store (`DYNLAN_INSTANCE_STORE`), or a private one when no supervisor made it."""
        path = os.environ.get(ENV)
        if path:
            return cls(path)
        return cls(create_file(), owned=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic read-modify-write across the instance's processes."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise SharedStoreError(f"instance store: {exc}") from None
        try:
            yield db
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise SharedStoreError(f"instance store: {exc}") from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise SharedStoreError(f"instance store: {exc}") from None

    def close(self) -> None:
        self._db.close()
        if self._owned:
            remove_file(self.path)
