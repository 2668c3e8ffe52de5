"""The instance's shared store file: made with its creator's pid in its name, removed once that process is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dynlan.host._shared import PREFIX, SharedStore, remove_stale_files


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
