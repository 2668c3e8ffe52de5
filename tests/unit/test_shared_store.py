"""The instance's shared store file: made with its creator's pid in its name, removed once that process is gone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dynlan.host._shared import (
    BUSY_TIMEOUT,
    PREFIX,
    SharedStore,
    create_file,
    remove_file,
    remove_stale_files,
)
from dynlan.sessions import MemorySessions


def test_files_of_ended_processes_are_removed(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    dead = tmp_path / f"{PREFIX}{int(ended.stdout)}-abc.sqlite"
    alive = tmp_path / f"{PREFIX}{os.getpid()}-def.sqlite"
    other = tmp_path / "unrelated.sqlite"
    for path in (dead, alive, other):
        SharedStore(str(path)).close()
    (tmp_path / (dead.name + "-wal")).write_bytes(b"")
    assert remove_stale_files(str(tmp_path)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_each_sites_sessions_have_a_byte_budget(tmp_path: Path) -> None:
    shared = SharedStore(str(tmp_path / "store.sqlite"))
    try:
        store = MemorySessions(shared, site_max_bytes=1000)
        store.save_nowait("a.test\0s\0one", b"x" * 600, 60)
        with pytest.raises(ValueError, match="budget of 1000 bytes"):
            store.save_nowait("a.test\0s\0two", b"x" * 600, 60)
        assert store.load_nowait("a.test\0s\0two", 60) is None  # nothing kept of the refused write
        store.save_nowait("b.test\0s\0two", b"x" * 600, 60)  # another site's budget is its own
        store.save_nowait("a.test\0s\0one", b"x" * 100, 60)  # smaller: room again
        store.save_nowait("a.test\0s\0two", b"x" * 600, 60)
        store.delete_nowait("a.test\0s\0two")
        store.delete_nowait("a.test\0s\0one")
        store.save_nowait("a.test\0s\0three", b"x" * 900, 60)
        # Expired sessions give their bytes back when they are found or swept.
        store.save_nowait("b.test\0s\0short", b"x" * 300, -1)
        assert store.load_nowait("b.test\0s\0short", 60) is None
        store.save_nowait("b.test\0s\0again", b"x" * 300, 60)
    finally:
        shared.close()


def test_a_process_starting_while_another_holds_the_lock_waits_for_it(tmp_path: Path) -> None:
    # On a busy machine a worker may open the file while another process holds its lock for longer than an
    # operation's BUSY_TIMEOUT: it waits (up to OPEN_TIMEOUT) rather than failing to start.
    path = str(tmp_path / "store.sqlite")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(BUSY_TIMEOUT * 1.5, holder.execute, ("COMMIT",))
    release.start()
    try:
        store = SharedStore(path)
    finally:
        release.join()
        holder.close()
    store.close()


def test_the_supervisors_file_is_ready_before_any_worker_opens_it() -> None:
    path = create_file()
    try:
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"rate", "session", "meta", "usage"} <= tables
        db.close()
    finally:
        remove_file(path)
