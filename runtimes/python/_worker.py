"""The sandboxed Python worker: a fork server that runs every request in a fresh process.

    server ══ stdin/stdout pipes ══ worker (parent) ── fork per request, a socketpair ── request child
                                    runs no page code                                   runs one page

The parent starts once per pool slot: it imports what pages use, caps its
address space and compiles pages, and keeps one forked child waiting for the
next request. The child runs one page and answers. When the request ends the
parent kills the child and every process below it, and waits until none is
left, before it forks the next child and reads anything of the next request. So nothing a page does outlives its request: a patched
builtin or module (`json.dumps = spy`, `sys.modules[...]`, the worker's own
code reached through `sys.modules["__main__"]` or `gc.get_objects()`), a thread
waiting to record later requests, a child process. The parent is the child
subreaper of everything below it, so a `setsid` grandchild whose parent died
comes back to it and is killed too; the pool's pids cgroup (or RLIMIT_NPROC)
caps how many processes and threads a request can have at once.

The parent never holds request data: it relays frames with splice(2), reading
only each frame's length and kind byte, so a child cannot find an earlier
request's cookies or body in the memory it inherits. Only the parent has the
pipes to the host; a child talks over its own socket, so a process a page
leaves behind can never read the next request from the host's pipe, and what
it writes ends with the relay of its own request. The parent is not dumpable,
so a child cannot open `/proc/<parent>/fd/*` either (unless it runs as root).

Frames: a 4-byte big-endian length, a kind byte, JSON, and optionally a newline
and raw bytes (a request or response body). Never pickle: the host must not
deserialize objects a page could forge.

    host -> parent    p  the page to run: root, page, name, frame limit (read by the parent)
                      r  the page again and the request (relayed to the child)
                      c  the answer to a host call (relayed; dropped when no child waits for it)
                      k  abort: kill the child, answer K
    child -> host     c host call, l log, f flush, d done, e page error, b budget exceeded (relayed)
    child -> parent   m  files the child compiled (compiled by the parent for later children)
    parent -> host    R  ready, X  the child ended without an answer, K  abort done
"""

from __future__ import annotations

import ctypes
import gc
import inspect
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
from typing import Any, NoReturn

from dynlan.host import PageError
from dynlan.host._calls import HostCallError
from dynlan.host._context import _BAD_VALUE, _TOKEN, _cookie_header
from dynlan.runtimes.python._api import (
    Cache,
    Fs,
    Http,
    Log,
    Request,
    Session,
    Template,
    cache_options,
    template_values,
)
from dynlan.runtimes.python._runtime import (
    CodeCache,
    _ModuleLoader,
    _modules,
    page_builtins,
    page_error,
)
from dynlan.sandboxes import become_subreaper
from dynlan.sandboxes._landlock import confine
from dynlan.sandboxes._process import children

_LEN = struct.Struct(">I")
_HEAD = 5
"""Length and kind byte."""
CHILD_KINDS = frozenset(b"clfdeb")
"""Frame kinds a child may send to the host (never R, X or K: the host knows those come from the parent)."""
TERMINAL = frozenset(b"deb")
SMALL_FRAME = 64 * 1024
"""Largest `p` or `m` frame: the only ones the parent reads into its own memory."""
MAX_FILES = 256
"""Largest number of compiled files one request tells the parent about."""
_PR_SET_DUMPABLE = 4


def payload(kind: bytes, head: Any, raw: bytes | None = None) -> bytes:
    """A frame's payload: the kind byte, JSON, and raw bytes after a newline (JSON text never holds one)."""
    data = kind + json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
    return data if raw is None else data + b"\n" + raw


def unpack(data: bytes) -> tuple[bytes, Any, bytes | None]:
    """(kind, JSON part, raw bytes or None) of a payload; ValueError when it is malformed."""
    end = data.find(b"\n", 1)
    if end < 0:
        return data[:1], json.loads(data[1:]), None
    return data[:1], json.loads(data[1:end]), data[end + 1:]


def _read_exact(fd: int, n: int) -> bytes | None:
    """`n` bytes from `fd`, or None when it ends first."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _splice(src: int, dst: int, n: int) -> int:
    """Move `n` bytes from `src` to `dst` inside the kernel; how many came before `src` ended."""
    moved = 0
    while moved < n:
        step = os.splice(src, dst, n - moved)
        if step == 0:
            break
        moved += step
    return moved


def kill_tree(pids: list[int], keep: int = 0) -> int:
    """SIGKILL these processes and every process below them: none of them runs another instruction after.

    Each process is killed before its children are read: a process with SIGKILL pending cannot start
    another (the kernel fails a fork that races the signal), so the list read after the kill is all there
    will ever be. This process is the subreaper of its descendants, so the children of one that ended on
    its own (a `setsid` grandchild whose parent exited) were re-parented here first and are found among
    this process's own children (all but `keep`, the child waiting for the next request). The dead are
    reaped later (`reap`).
    """
    me = os.getpid()
    killed: set[int] = set()
    todo = list(pids)
    while todo:
        while todo:
            pid = todo.pop()
            if pid in killed:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.add(pid)
            todo.extend(children(pid))
        todo = [pid for pid in children(me) if pid not in killed and pid != keep]
    return len(killed)


def kill_children() -> int:
    """SIGKILL every process below this one; how many there were."""
    return kill_tree(children(os.getpid()))


def settle(keep: int, timeout: float = 1.0) -> None:
    """Wait (a bounded time) until the processes killed for an earlier request are gone but one.

    They can no longer run, but each counts against the process cap until it is gone: a request that left
    many behind must not shrink the next request's share.
    """
    me = os.getpid()
    deadline = time.monotonic() + timeout
    while True:
        reap()
        others = [pid for pid in children(me) if pid != keep]
        if not others or time.monotonic() > deadline:
            return
        kill_tree(others, keep)
        _wait_any(others, 0.01)


def _wait_any(pids: list[int], timeout: float) -> None:
    poller = select.poll()
    fds: list[int] = []
    try:
        for pid in pids:
            try:
                fds.append(os.pidfd_open(pid))
            except OSError:
                return  # already reaped: look again at once
            poller.register(fds[-1], select.POLLIN)
        poller.poll(timeout * 1000)
    finally:
        for fd in fds:
            os.close(fd)


def reap() -> list[int]:
    """Collect the children that have ended (their pids; their process slots count against the cap until then)."""
    done: list[int] = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append(pid)


class ForkServer:
    """The worker's parent: reads the host's pipe, forks a child per request, relays its frames."""

    def __init__(self, host_in: int, host_out: int, codes: CodeCache, builtins: dict[str, Any]) -> None:
        self.host_in = host_in
        self.host_out = host_out
        self.codes = codes
        self.builtins = builtins
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.next: tuple[int, socket.socket]
        """The child waiting for the next request, and the parent's end of its socket."""
        self.left = 0
        """Processes the last request had when it ended (more than one: wait until they are gone)."""

    def send(self, kind: bytes, head: Any) -> None:
        data = payload(kind, head)
        _write_all(self.host_out, _LEN.pack(len(data)) + data)

    def serve(self) -> int:
        self.send(b"R", {"pid": os.getpid()})
        self.next = self._fork()
        while True:
            frame = self._host_frame()
            if frame is None:
                return 0
            kind, size = frame
            if kind == b"p" and size <= SMALL_FRAME:
                data = _read_exact(self.host_in, size)
                if data is None:
                    return 0
                self.run(json.loads(data))
            elif kind in (b"r", b"c"):
                # The answer to a call a child made just before it ended: nobody waits for it any more.
                self._drop(size)
            elif kind == b"k":
                self._drop(size)
                self.send(b"K", {})
            else:
                return 2

    def _host_frame(self) -> tuple[bytes, int] | None:
        head = _read_exact(self.host_in, _HEAD)
        if head is None:
            return None
        (length,) = _LEN.unpack_from(head)
        return head[4:5], length - 1

    def _drop(self, size: int) -> None:
        if _splice(self.host_in, self.devnull, size) < size:
            raise SystemExit(0)  # the host went away

    def _fork(self) -> tuple[int, socket.socket]:
        """A child for the next request, waiting for it on its own socket."""
        parent_end, child_end = socket.socketpair()
        # Objects that exist now are never collected in the child: its collections stay small and do not
        # touch (and so copy) the parent's pages.
        gc.freeze()
        try:
            pid = os.fork()
        except BlockingIOError:
            # At the process cap: the last request's processes are killed but still count until they are gone.
            settle(0, timeout=10.0)
            pid = os.fork()
        if pid == 0:
            _child(child_end.fileno(), self.devnull, self.codes, self.builtins)
        child_end.close()
        return pid, parent_end

    def run(self, page: dict[str, Any]) -> None:
        # Compiled here for the children to come (the waiting one compiles a page that is new to it).
        self._compile(page["page"], page["name"])
        pid, sock = self.next
        if self.left > 1:
            settle(pid)
        if not _waiting(pid):
            # It died waiting (nothing here kills a waiting child; the system might): a fresh one.
            sock.close()
            pid, sock = self.next = self._fork()
        try:
            compiled = self.relay(pid, sock, int(page["limit"]))
        finally:
            sock.close()
            reap()
            self.left = kill_children()
        self._compile_files(page["root"], compiled)
        # Everything of this request is killed (none of it runs again), so the next child cannot meet it.
        self.next = self._fork()
        reap()

    def relay(self, pid: int, channel: socket.socket, limit: int) -> list[str]:
        """Relay between the host and the child until the child's last frame; files it compiled."""
        sock = channel.fileno()
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        for fd in (self.host_in, sock, pidfd):
            poller.register(fd, select.POLLIN)
        compiled: list[str] = []
        status: int | None = None
        try:
            while True:
                for fd, _ in poller.poll():
                    if fd == pidfd:
                        status = _exit_status(pid)
                        poller.unregister(pidfd)
                        # What it started goes too, so its socket ends after what is in it now.
                        kill_children()
                    elif fd == self.host_in:
                        if not self._to_child(sock):
                            return compiled
                    elif fd == sock:
                        # The head is only looked at here: the whole frame then moves to the host in one
                        # splice, so the host wakes once for it.
                        try:
                            head = channel.recv(_HEAD, socket.MSG_PEEK | socket.MSG_WAITALL)
                        except OSError:  # reset: it ended without reading all it was sent
                            head = b""
                        if len(head) < _HEAD:
                            self._ended(pid, status, "" if status is not None else "closed its socket to the worker")
                            return compiled
                        (length,) = _LEN.unpack_from(head)
                        kind, size = head[4], length - 1
                        if kind == ord("m") and 0 <= size <= SMALL_FRAME:
                            data = _read_exact(sock, _HEAD + size)
                            if data is not None:
                                compiled.extend(_file_list(data[_HEAD:]))
                        elif kind in CHILD_KINDS and 0 <= size <= limit:
                            moved = _splice(sock, self.host_out, _HEAD + size)
                            if moved < _HEAD + size:
                                # Ended mid-frame: pad it, so the host's framing stays whole.
                                self._pad(_HEAD + size - moved)
                            if kind in TERMINAL:
                                return compiled
                        else:
                            self._ended(pid, status, "sent a message it may not send")
                            return compiled
        finally:
            os.close(pidfd)

    def _to_child(self, sock: int) -> bool:
        """Relay one frame from the host to the child; False when the host aborts the request."""
        frame = self._host_frame()
        if frame is None:
            kill_children()
            raise SystemExit(0)
        kind, size = frame
        if kind == b"k":
            self._drop(size)
            kill_children()
            self.send(b"K", {})
            return False
        if kind not in (b"r", b"c"):
            raise SystemExit(2)
        target = sock
        try:
            _write_all(sock, _LEN.pack(size + 1) + kind)
        except OSError:
            target = self.devnull  # the child has gone: the rest of the frame goes nowhere
        moved = 0
        while moved < size:
            try:
                step = os.splice(self.host_in, target, size - moved)
            except OSError:
                target = self.devnull
                continue
            if step == 0:
                raise SystemExit(0)
            moved += step
        return True

    def _ended(self, pid: int, status: int | None, reason: str) -> None:
        """The child ended (or broke the protocol) without a last frame: tell the host."""
        if status is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            status = _exit_status(pid)
        self.send(b"X", {"status": status, "reason": reason})

    def _pad(self, n: int) -> None:
        block = b" " * min(n, 1 << 16)
        while n > 0:
            _write_all(self.host_out, block[:n])
            n -= len(block)

    def _compile(self, path: str, name: str) -> None:
        """Compile a page for this and later children; the child reports any error itself."""
        try:
            self.codes.get(path, name)
        except (PageError, OSError, ValueError, MemoryError, RecursionError):
            pass

    def _compile_files(self, root: str, files: list[str]) -> None:
        for path in files[:MAX_FILES]:
            real = os.path.realpath(path)
            # Only the site's own Python files: the list comes from page code.
            if real.startswith(root + os.sep) and real.endswith(".py") and os.path.isfile(real):
                self._compile(real, os.path.relpath(real, root))


def _exit_status(pid: int) -> int | None:
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return None  # reaped already


def _waiting(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == 0
    except ChildProcessError:
        return False  # reaped already


def _file_list(data: bytes) -> list[str]:
    try:
        files = json.loads(data)
    except ValueError:
        return []
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


# -- the request child -------------------------------------------------------------------------


class Budget(Exception):
    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class Channel:
    """The child's end of its socket: frames, one host call answered at a time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self) -> tuple[bytes, Any, bytes | None] | None:
        head = _read_exact(self.fd, 4)
        data = _read_exact(self.fd, _LEN.unpack(head)[0]) if head is not None else None
        return unpack(data) if data is not None else None

    def write(self, kind: bytes, head: Any, raw: bytes | None = None) -> None:
        data = payload(kind, head, raw)
        _write_all(self.fd, _LEN.pack(len(data)) + data)


class ChannelPort:
    """The host-call table from the child: the request's fields and body came with it, the rest is asked."""

    def __init__(self, channel: Channel, fields: dict[str, Any], body: bytes) -> None:
        self._channel = channel
        self._fields = fields
        self._body = body

    def call(self, op: str, *args: Any) -> Any:
        if op == "req":
            value = self._fields.get(str(args[0]) if args else "")
            return dict(value) if isinstance(value, dict) else value
        if op == "body":
            return self._body
        try:
            self._channel.write(b"c", {"op": op, "args": list(args)})
        except (TypeError, ValueError) as exc:
            raise HostCallError(f"cannot pass this to {op}: {exc}") from None
        answer = self._channel.read()
        if answer is None:
            os._exit(0)  # the parent ended this request
        _, head, raw = answer
        if not head.get("ok"):
            raise HostCallError(str(head.get("error", "host call failed")))
        return raw if head.get("bytes") else head.get("value")

    async def acall(self, op: str, *args: Any) -> Any:
        return self.call(op, *args)


def _status(value: Any) -> int:
    """The host's rule (RFC 9110 §15: a page's final status is 200 to 599), checked where the page sets it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 200 <= value <= 599:
        raise ValueError(f"invalid status {value!r} (a page's response status is 200 to 599)")
    return value


class Response:
    """`response` in the child: kept here and sent with `flush()` and at the end (the host applies it through
    the table and checks it again); header rules are the host's, so a bad one fails at the page's line."""

    def __init__(self, channel: Channel, port: ChannelPort, output_limit: int) -> None:
        self._channel = channel
        self._port = port
        self._limit = output_limit
        self._status = 200
        self._headers: list[list[str]] = [["content-type", "text/html; charset=utf-8"]]
        self._chunks: list[bytes] = []
        self._written = 0
        self._started = False
        self.headers = _Headers(self)

    @property
    def status(self) -> int:
        return self._status

    @status.setter
    def status(self, value: int) -> None:
        self._unstarted("status")
        self._status = _status(value)

    def _unstarted(self, what: str) -> None:
        if self._started:
            raise RuntimeError(f"{what} cannot change after the response started")

    def _header(self, name: str, value: Any) -> tuple[str, str]:
        self._unstarted("headers")
        text = str(value)
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(text):
            raise ValueError(f"invalid value for header {name!r}: control characters are not allowed")
        return name.lower(), text

    def render(self, name: str, values: Any = None, /, **more: Any) -> None:
        """Write the site's template `name` rendered (by the host) with `values` and `more`."""
        self.write(self._port.call("template_render", name, template_values(values, more)))

    def header(self, name: str, value: Any) -> None:
        key, text = self._header(name, value)
        self._headers = [h for h in self._headers if h[0] != key] + [[key, text]]

    def add_header(self, name: str, value: Any) -> None:
        self._headers.append(list(self._header(name, value)))

    def set_cookie(self, name: str, value: Any, **options: Any) -> None:
        self.add_header("set-cookie", _cookie_header(name, str(value), options))

    def write(self, data: str | bytes) -> None:
        chunk = data.encode() if isinstance(data, str) else bytes(data) if isinstance(data, bytes | bytearray) \
            else str(data).encode()
        self._written += len(chunk)
        if self._written > self._limit:
            raise Budget("output", f"page wrote more than its output budget of {self._limit} bytes")
        self._chunks.append(chunk)

    def redirect(self, location: str, status: int = 302) -> None:
        self.status = status
        self.header("location", location)

    def json(self, value: Any, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        self.header("content-type", "application/json")
        self.write(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def cache(self, ttl: float, vary: Any = None, tags: Any = None, query: Any = None,
              stale_if_error: float | None = None) -> None:
        self._port.call("cache_response", ttl, cache_options(vary, tags, query, stale_if_error))

    def _send(self, kind: bytes) -> None:
        head: dict[str, Any] = {} if self._started else {"status": self._status, "headers": self._headers}
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._channel.write(kind, head, body)

    async def flush(self) -> None:
        self._send(b"f")
        self._started = True

    def finish(self) -> None:
        self._send(b"d")


class _Headers:
    def __init__(self, response: Response) -> None:
        self._r = response

    def __setitem__(self, name: str, value: Any) -> None:
        self._r.header(name, value)

    def __getitem__(self, name: str) -> str:
        for k, v in reversed(self._r._headers):
            if k == name.lower():
                return v
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default


def _child(sock: int, devnull: int, codes: CodeCache, builtins: dict[str, Any]) -> NoReturn:
    """The request child: keep only its socket, wait for a request, run its page once, exit."""
    status = 70
    try:
        # Page code gets none of the parent's descriptors (the host's pipes): fd 0 is /dev/null, 1 and 2 the
        # server's log, 3 this request's socket.
        os.dup2(devnull, 0)
        if sock != 3:
            os.dup2(sock, 3)
        os.closerange(4, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        channel = Channel(3)
        frame = channel.read()
        if frame is not None and frame[0] == b"r":
            run(channel, codes, builtins, frame[1], frame[2] or b"")
        status = 0
    finally:
        os._exit(status)


def run(channel: Channel, codes: CodeCache, builtins: dict[str, Any], head: dict[str, Any], body: bytes) -> None:
    """Run the page for one request and send its last frame."""
    import trio

    page = head["page"]
    root, path, name = page["root"], page["page"], page["name"]
    port = ChannelPort(channel, head["request"], body)
    response = Response(channel, port, int(head["output_limit"]))
    http = Http(port)
    namespace: dict[str, Any] = {"__name__": "__page__", "__file__": path, "__builtins__": builtins,
                                 "cache": Cache(port), "fs": Fs(port), "log": Log(port), "http": http,
                                 "template": Template(port), "session": Session(port)}
    codes.compiled.clear()
    _modules.set(_ModuleLoader(root, codes, builtins))
    try:
        exec(codes.get(path, name), namespace)
        handle = namespace.get("handle")
        if not callable(handle):
            raise PageError(f"{name} defines no handle(request, response)", "", path, None)
        if inspect.iscoroutinefunction(handle):
            http.asynchronous = True
            trio.run(handle, Request(port, True), response)
        else:
            handle(Request(port, False), response)
    except Budget as exc:
        _tell_compiled(channel, codes)
        channel.write(b"b", {"kind": exc.kind, "message": str(exc)})
    except MemoryError:
        _tell_compiled(channel, codes)
        channel.write(b"b", {"kind": "memory", "message": "page used more than its memory budget"})
    except PageError as exc:
        _tell_compiled(channel, codes)
        channel.write(b"e", _error_head(exc))
    except BaseException as exc:  # SystemExit too: a page's exit() ends its own request with an error
        error = page_error(exc, path, root)
        _tell_compiled(channel, codes)
        channel.write(b"e", _error_head(error))
    else:
        _tell_compiled(channel, codes)
        response.finish()


def _error_head(error: PageError) -> dict[str, Any]:
    return {"message": str(error), "detail": error.detail, "file": error.file, "line": error.line,
            "kind": error.kind, "headline": error.headline,
            "frames": [[f.file, f.line, f.function] for f in error.frames]}


def _tell_compiled(channel: Channel, codes: CodeCache) -> None:
    if codes.compiled:
        channel.write(b"m", codes.compiled[:MAX_FILES])


_libc: Any = None


def _prctl(option: int, value: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.prctl(option, value, 0, 0, 0)


def _limit_memory(budget: int) -> None:
    """Cap the address space at what the interpreter uses now plus the page budget (a page cannot raise it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                current = int(line.split()[1]) * 1024
                break
        else:  # pragma: no cover
            return
    limit = current + budget
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> int:
    # Only this process keeps the protocol pipe; print() in a page goes to stderr (the server's log).
    host_out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    become_subreaper()
    # Not dumpable: a child (same user) cannot open /proc/<this>/fd/* to reach the host's pipes, nor ptrace it.
    _prctl(_PR_SET_DUMPABLE, 0)
    memory = int(os.environ.get("DYNLAN_MEMORY_BUDGET", "0"))
    codes = CodeCache()
    builtins_dict = page_builtins()
    import trio  # noqa: F401  (imported before the memory cap and the first fork, for async pages)

    if memory:
        _limit_memory(memory)
    ports = [int(port) for port in os.environ.get("DYNLAN_CONNECT_PORTS", "").split(",") if port]
    try:
        # The worker's folder is its site's: from here on, it and every request's process below it read only
        # the site, the system and Python, and write only the site's private temporary folder.
        confine(os.getcwd(), os.environ.get("TMPDIR"), ports)
    except OSError as exc:
        print(f"dynlan: the Python sandbox cannot confine pages to their site: {exc}", file=sys.stderr)
        return 3
    return ForkServer(0, host_out, codes, builtins_dict).serve()


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["main", "payload", "unpack"]
