"""The control socket: local commands (`dynlan cache purge`) reach every worker of a running server.

Each serving process listens on a Unix socket named after its pid, in a folder
named after the server's port, readable only by the user who started it
(`$XDG_RUNTIME_DIR/dynlan/<port>/` or `/tmp/dynlan-<uid>/<port>/`). The
protocol is one JSON object per line each way. Workers also use it to tell
each other about purges their pages make, since SO_REUSEPORT hands any single
request to one worker only.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger("dynlan")

MAX_MESSAGE = 64 * 1024
TIMEOUT = 5.0

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def control_dir(port: int) -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "dynlan" if runtime else Path(tempfile.gettempdir()) / f"dynlan-{os.getuid()}"
    return base / str(port)


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def _decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a control message is a JSON object")
    return message


class ControlServer:
    """Answers control messages for this process; sends them to its sibling processes."""

    def __init__(self, port: int, handler: Handler) -> None:
        self.folder = control_dir(port)
        self.path = self.folder / f"{os.getpid()}.sock"
        self.handler = handler
        self._nursery: trio.Nursery | None = None

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The folder name is predictable: refuse one another user could have planted.
        if self.folder.stat().st_uid != os.getuid():
            raise OSError(f"{self.folder} belongs to another user")
        os.chmod(self.folder, 0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        # Bound under another name and renamed once it listens: a client never finds the socket refusing
        # connections (it would take it for one a killed process left, and remove it).
        binding = self.folder / f"{os.getpid()}.binding"
        with contextlib.suppress(FileNotFoundError):
            binding.unlink()
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(str(binding))
        sock.listen(16)
        os.rename(binding, self.path)
        listener = trio.SocketListener(sock)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                while True:
                    stream = await listener.accept()
                    nursery.start_soon(self._answer, stream)
        finally:
            self._nursery = None
            with contextlib.suppress(OSError):
                self.path.unlink()
            await listener.aclose()

    async def _answer(self, stream: trio.SocketStream) -> None:
        async with stream:
            buffer = b""
            with trio.move_on_after(TIMEOUT):
                while b"\n" not in buffer:
                    data = await stream.receive_some(MAX_MESSAGE)
                    if not data:
                        return
                    buffer += data
                    if len(buffer) > MAX_MESSAGE:
                        return
            if b"\n" not in buffer:
                return
            # The operation itself is not under the read timeout: a reload that starts a runtime may take
            # longer, and is not to be cut short half-way by a client's silence.
            try:
                reply = await self.handler(_decode(buffer.partition(b"\n")[0]))
            except (ValueError, TypeError, KeyError) as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:
                # A failing operation must not take the control socket (and the server) down.
                log.exception("control operation failed")
                reply = {"ok": False, "error": f"the operation failed: {exc!r}"}
            with trio.move_on_after(TIMEOUT), \
                    contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(_encode(reply))

    def broadcast_nowait(self, message: dict[str, Any]) -> None:
        """Send a message to every other process of this server, in the background."""
        if self._nursery is not None:
            self._nursery.start_soon(self._broadcast, message)

    async def _broadcast(self, message: dict[str, Any]) -> None:
        for path in self.folder.glob("*.sock"):
            if path == self.path:
                continue
            with trio.move_on_after(TIMEOUT):
                try:
                    stream = await trio.open_unix_socket(str(path))
                except OSError:
                    continue
                async with stream:
                    try:
                        await stream.send_all(_encode(message))
                        await stream.receive_some(MAX_MESSAGE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                        log.warning("control message to %s failed: %s", path.name, exc)


def _alive(path: Path) -> bool:
    """Whether the process a socket is named after (`<pid>.sock`) still runs."""
    if not path.stem.isdigit():
        return False
    try:
        os.kill(int(path.stem), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    return True


def send_to_server(port: int, message: dict[str, Any], timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """Send a message to every process of the server on `port`; their replies (blocking, for the CLI)."""
    replies: list[dict[str, Any]] = []
    folder = control_dir(port)
    for path in sorted(folder.glob("*.sock")) if folder.is_dir() else []:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(str(path))
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    if exc.errno == errno.ECONNREFUSED and not _alive(path):
                        # Left behind by a process that was killed: nobody listens.
                        with contextlib.suppress(OSError):
                            path.unlink()
                    continue
                raise
            sock.sendall(_encode(message))
            buffer = b""
            while b"\n" not in buffer and len(buffer) <= MAX_MESSAGE:
                data = sock.recv(MAX_MESSAGE)
                if not data:
                    break
                buffer += data
            if buffer:
                replies.append(_decode(buffer.partition(b"\n")[0]))
    return replies
