"""The control socket's client: a socket nobody listens on is removed only when the process it is named after is
gone (a live one may be between its bind and its listen)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dynlan.server import _control
from dynlan.server._control import send_to_server


def _refusing(path: Path) -> socket.socket:
    """A Unix socket bound at `path` that does not listen (connections to it are refused)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


def test_only_a_dead_processes_socket_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_control, "control_dir", lambda port: tmp_path)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    live, dead = tmp_path / f"{os.getpid()}.sock", tmp_path / f"{int(ended.stdout)}.sock"
    with _refusing(live), _refusing(dead):
        assert send_to_server(1, {"op": "stats"}) == []
        assert live.exists() and not dead.exists()
