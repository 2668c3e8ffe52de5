"""PHP pages through php-cgi over FastCGI, the way nginx + PHP-FPM runs them, confined per site.

Each site has its own pool of php-cgi processes (started on the site's first
PHP request, through `dynlan.sandboxes`, and stopped again after `[php]
idle_timeout` seconds without use), each serving one request at a time. What
confines a site's PHP (see `confinement_ini` and `_limits`):

- `open_basedir`: the site's folder, a private temporary folder of the site
  (sessions, uploads, `sys_temp_dir`) and the prelude file, nothing else;
- no function that starts a process (or signals, or raises limits) unless the
  site's `allow_exec` is true, and a process-count cap behind that (php-cgi may
  not fork at all; 16 processes with `allow_exec`);
- memory: RLIMIT_AS = the page's memory budget + what php-cgi maps before it
  runs a page (measured) + a margin, so `ini_set('memory_limit', '-1')` lifts
  only PHP's own count; `set_time_limit(0)` lifts only PHP's CPU count, the
  host's wall-time kill stays;
- whatever a page starts is killed when its request ends (the pool does it).

FastCGI has no socket anyone else could reach: php-cgi gets a listening socket
as its fd 0 whose path is removed as soon as dynlan has connected, so the one
connection php-cgi ever accepts is dynlan's (a page of another site cannot send
php-cgi a request naming this site's files).

Request bodies stream in as FCGI_STDIN records; a body whose length only its
end tells (chunked, or HTTP/2 and HTTP/3 without content-length) is spooled
first, since PHP reads no more than CONTENT_LENGTH says. Output streams back:
it is buffered while PHP keeps producing and goes to the client as soon as PHP
pauses (a `flush()` in the page reaches the client). PHP's stderr goes to the
log with the request id. A PHP error (fatal, parse, memory or CPU limit) is a
complete FastCGI response and the process serves on; only a broken transport
(EOF, a reset, invalid FastCGI) or the wall-time budget costs a process. Pages
reach the host cache and files through a prelude (`_prelude.php`) that calls
the host-call table (`dynlan.host.call`) over the site's own Unix socket with
its request's token (128 random bits, valid only on that socket and only while
the request runs).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from dynlan import SERVER_NAME
from dynlan.config import ConfigError
from dynlan.host import BudgetExceeded, Frame, Host, HostCallError, PageContext, PageError, call
from dynlan.runtimes._interface import Availability, RuntimeConfig
from dynlan.runtimes.php._fastcgi import (
    CgiHeadParser,
    EndRequest,
    FastCGIConnection,
    FastCGIError,
    Stderr,
    Stdout,
    encode_pairs,
)
from dynlan.runtimes.php._site_policy import SITE_KEYS, php_site_options
from dynlan.sandboxes import Limits, PoolError, ProcessPool, Worker, forget, private_folder, spawn

log = logging.getLogger("dynlan.php")

PRELUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_prelude.php")
REQUEST_ID = 1
PAUSE = 0.025
"""Seconds without new output after which what PHP wrote so far is sent (so flush() reaches the client).

Long enough that a page writing without pause, on a busy machine, is not taken as pausing (its
status would go out before an output budget could still turn it into a 500)."""
_CGI_HEADER = re.compile(r"HTTP_[A-Z0-9_]+")


@functools.lru_cache(maxsize=1024)
def _cgi_header(name: str) -> bytes | None:
    """The CGI variable for a request header (`HTTP_USER_AGENT`), or None for one PHP must not get."""
    if name in ("content-type", "content-length", "proxy", "transfer-encoding"):
        # httpoxy: a `Proxy` header must never become HTTP_PROXY. Transfer-Encoding framed the
        # message, not the body PHP gets (RFC 9112 §6.1): that one has a CONTENT_LENGTH.
        return None
    key = "HTTP_" + name.upper().replace("-", "_")
    return key.encode() if _CGI_HEADER.fullmatch(key) else None


async def _fcgi_send(stream: trio.SocketStream, data: bytes) -> None:
    """Write to php-cgi's socket: at once while it has room (a request's records nearly always fit), else
    through trio's send_all, which waits for room. Without send_all's machinery on every request."""
    await trio.lowlevel.checkpoint_if_cancelled()
    fd = stream.socket.fileno()
    sent = 0
    if fd != -1:
        try:
            sent = os.write(fd, data)
        except BlockingIOError:
            pass
        except OSError as exc:
            raise trio.BrokenResourceError(f"php-cgi's socket: {exc}") from None
    if sent < len(data):
        await stream.send_all(memoryview(data)[sent:])


def _fcgi_read_now(stream: trio.SocketStream) -> bytes | None:
    """What php-cgi has sent (b"" when it closed), or None when nothing is there yet."""
    fd = stream.socket.fileno()
    if fd == -1:
        raise trio.ClosedResourceError("php-cgi's socket was closed")
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError as exc:
        raise trio.BrokenResourceError(f"php-cgi's socket: {exc}") from None


async def _fcgi_wait(stream: trio.SocketStream) -> bytes:
    """What php-cgi sends next (b"" when it closes), once its socket is readable."""
    while True:
        await trio.lowlevel.wait_readable(stream.socket)
        data = _fcgi_read_now(stream)
        if data is not None:
            return data


async def _fcgi_receive(stream: trio.SocketStream) -> bytes:
    """What php-cgi sent next (b"" when it closed): read at once when it is there, else once readable."""
    await trio.lowlevel.checkpoint_if_cancelled()
    data = _fcgi_read_now(stream)
    return data if data is not None else await _fcgi_wait(stream)


@functools.lru_cache(maxsize=4096)
def _script_name(page: str, root: str) -> str:
    return "/" + os.path.relpath(page, root).replace(os.sep, "/")


_FATAL_LOCATION = re.compile(r" in (/[^\s:]+?)(?::| on line )(\d+)")
_UNCAUGHT = re.compile(r"^Uncaught ([\w\\]+): (.*?)(?: in [^\s]+?:\d+)?$", re.S)
_HEADLINE_END = re.compile(r" in [^\s]+?(?::\d+| on line \d+)$")
_STACK_FRAME = re.compile(r"^#\d+ (/[^(]+)\((\d+)\): ([^(]*)")


def _describe(first: str, message: str, errors: str, file: str | None,
              line: int | None) -> tuple[str, str, list[Frame]]:
    """The kind, the message without its kind and location, and the frames (innermost first) of a PHP error.

    PHP's stack trace names, on each line, the function called from that line: the frame where the error
    was thrown is in the function of `#0`, and `#k`'s line is in the function of `#k+1` (or `{main}`)."""
    uncaught = _UNCAUGHT.match(message)
    if uncaught:
        kind, headline = uncaught.group(1), uncaught.group(2)
    else:
        kind = "PHP Parse error" if "PHP Parse error" in first else "PHP Fatal error"
        headline = _HEADLINE_END.sub("", message)
    calls: list[tuple[str, int, str]] = []
    for text in errors.splitlines():
        m = _STACK_FRAME.match(text.strip())
        if m:
            calls.append((m.group(1), int(m.group(2)), m.group(3).strip()))
    frames: list[Frame] = []
    if file is not None and line is not None:
        frames.append(Frame(file, line, calls[0][2] if calls else "{main}"))
    for i, (where, at, _) in enumerate(calls):
        frames.append(Frame(where, at, calls[i + 1][2] if i + 1 < len(calls) else "{main}"))
    return kind, headline, frames
SPOOL_MEMORY = 64 * 1024
"""A body of unknown length is held in memory up to this many bytes, then in a temporary file."""
BODY_CHUNK = 256 * 1024
FIXED_INI = ("cgi.fix_pathinfo", "cgi.discard_path")
"""ini settings DynLan owns: with either changed, PHP would run PATH_TRANSLATED instead of SCRIPT_FILENAME."""
MIB = 1024 * 1024
ADDRESS_SPACE_MARGIN = 64 * MIB
"""Room above the page's memory budget and php-cgi's start-up mappings for what PHP allocates outside
`memory_limit` (libraries with their own malloc, such as SQLite's page cache; PHP's I/O buffers)."""
ADDRESS_SPACE_FALLBACK = 256 * MIB
"""php-cgi's start-up mappings when they cannot be measured. Measured on Debian 12 (PHP 8.2, opcache with
its default 128 MiB of shared memory, sqlite3, pdo, mysqli, pgsql): VmSize 205 MiB before the first page
(65 MiB without opcache)."""
EXEC_MAX_PROCESSES = 16
"""Processes a php-cgi of a site with `allow_exec` may have at once, itself included."""
MAX_CALL = 16 * MIB
"""The longest host call a page may send (a cache value, mostly)."""
MAX_TOKEN_LINE = 64
HANDSHAKE_TIMEOUT = 5.0
"""Seconds a connection to a host socket has to name its request's token."""
MAX_CONNECTIONS = 4
"""Host connections one request may hold at once (the prelude keeps one)."""

PROCESS_FUNCTIONS = (
    # Programs: a shell is every file of the server's user (and, as root, the machine).
    "exec", "system", "shell_exec", "passthru", "popen", "proc_open", "proc_close", "proc_get_status",
    "proc_terminate", "proc_nice", "pcntl_exec", "pcntl_fork", "pcntl_rfork", "pcntl_unshare", "pcntl_signal",
    "pcntl_alarm", "pcntl_async_signals", "pcntl_wait", "pcntl_waitpid", "pcntl_sigprocmask",
    "pcntl_setpriority",
    # mail() runs sendmail_path through a shell; putenv('LD_PRELOAD=...') before it loads the page's code.
    "mail", "mb_send_mail", "imap_mail", "putenv",
    # Signals to any process of the same user (as root: any process), a new session out of the kill's
    # reach, raised limits (as root, RLIMIT_AS can be lifted), device nodes (as root: a raw disk).
    "posix_kill", "posix_setsid", "posix_setpgid", "posix_setuid", "posix_setgid", "posix_seteuid",
    "posix_setegid", "posix_initgroups", "posix_setrlimit", "posix_mknod",
    # System V IPC keys are global to the machine: a site could attach to another's segment or queue.
    "shmop_open", "shm_attach", "sem_get", "msg_get_queue",
)
"""Functions a page cannot call unless its site has `allow_exec` (backticks are shell_exec)."""
ALWAYS_DISABLED = ("dl",)

PHP_OPERATIONS = frozenset({
    "cache_get", "cache_set", "cache_delete", "cache_incr", "cache_response", "cache_purge",
    "fs_read", "fs_exists", "fs_list", "fs_stat", "log", "dev_usage", "http_request", "template_render",
    "session_get", "session_set", "session_delete", "session_regenerate",
    "php_session_read", "php_session_exists", "php_session_write", "php_session_destroy", "php_session_close",
    # WebSockets, channels and event streams (docs/websocket.md): they go out on the request's own connection,
    # never through PHP's FastCGI response.
    "ws_accept", "ws_receive", "ws_send", "ws_close", "ws_info", "channel_publish", "channel_subscribe",
    "channel_unsubscribe", "channel_receive", "sse_start", "sse_send", "sse_comment",
})
"""The host calls the prelude makes. The request and response are PHP's own (over FastCGI): reading the
body or writing the response through the host socket as well would race the FastCGI exchange."""

_UNSAFE_INI = re.compile(r'[\x00-\x1f\x7f"]')

BodySource = Callable[[], Awaitable[bytes]]
"""The next chunk of a request body; b"" at its end."""


def confinement_ini(root: str, private: str, allow_exec: bool) -> dict[str, str]:
    """The ini settings that keep a site's PHP to its own files: passed with -d, so no page can widen them.

    `open_basedir` can only be narrowed by `ini_set`; `disable_functions`, `ffi.enable`, `enable_dl` and the
    temporary folders are PHP_INI_SYSTEM. Each folder ends with a separator: open_basedir matches prefixes,
    so `/srv/a.test` alone would let `a.test` into `/srv/a.test2`. The prelude is listed as a file, not its
    folder (open_basedir applies to auto_prepend_file too).
    """
    for path in (root, private, PRELUDE):
        if os.pathsep in path or _UNSAFE_INI.search(path):
            # open_basedir is a list split at os.pathsep: `/srv/x:/` would open the whole disk; php-cgi reads
            # `-d key=value` as a line of ini text, where a newline would start a setting of the path's own.
            raise PageError(f"PHP cannot be confined to {path!r}: the path contains {os.pathsep!r}, a quote or "
                            "a control character")
    disabled = ALWAYS_DISABLED if allow_exec else ALWAYS_DISABLED + PROCESS_FUNCTIONS
    return {
        "open_basedir": os.pathsep.join((root.rstrip(os.sep) + os.sep, private.rstrip(os.sep) + os.sep, PRELUDE)),
        "sys_temp_dir": private,
        "upload_tmp_dir": os.path.join(private, "uploads"),
        "session.save_path": os.path.join(private, "sessions"),
        "disable_functions": ",".join(disabled),
        # FFI calls any C function: open_basedir and disable_functions would mean nothing.
        "ffi.enable": "0",
        "enable_dl": "0",
        "allow_url_include": "0",
    }


@dataclass(eq=False)
class _SitePool:
    """One site's PHP: its php-cgi processes, its requests' tokens and the socket they call the host on."""

    root: str
    folder: str
    """This site's folder under the runtime's (0700; 0711 with `[php] user`): the host socket and `private/`."""
    socket_path: str
    listener: trio.socket.SocketType
    pool: ProcessPool = field(init=False)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    """The host socket's server task."""
    tokens: dict[str, PageContext] = field(default_factory=dict)
    """The token of each of this site's requests in flight (valid on this site's socket only)."""
    connections: dict[PageContext, int] = field(default_factory=dict)
    """Host connections open for each request."""
    workers: dict[trio.Process, trio.SocketStream] = field(default_factory=dict)
    """Each php-cgi process, with dynlan's connection to it (the only one it will ever accept). Keyed by the
    process itself, not its pid: a pid is reused once its process is reaped (pid_max may be 32768), and a
    replacement started while a recycled process is reaped must never find or drop its predecessor's entry."""
    users: int = 0
    """Requests running now: the site is not closed under them."""

    def forget_ended(self) -> None:
        """Close the connections of php-cgi processes that have ended."""
        for proc, stream in list(self.workers.items()):
            if proc.returncode is not None:
                self.workers.pop(proc, None)
                stream.socket.close()


class PhpRuntime:
    name = "php"
    suffixes = (".php",)
    path_info = True
    """`/info.php/a/b` runs info.php with PATH_INFO `/a/b` (the router splits it; see `Router.split_path_info`)."""

    def __init__(self) -> None:
        self.binary = "php-cgi"
        self.processes = 2
        self.max_requests = 500
        self.idle_timeout = 60.0
        """Seconds a php-cgi process may stay idle before it is stopped (a site's pool shrinks to nothing)."""
        self.ini: dict[str, str] = {}
        self.user: tuple[int, int] | None = None
        """(uid, gid) php-cgi runs as when the server runs as root (`[php] user`)."""
        self.exec_sites: frozenset[str] = frozenset()
        """Sites whose `allow_exec = true` is honoured (a site's own config alone cannot loosen the server's)."""
        self.host: Host | None = None
        self.dev = False
        self._tmp = ""
        self._sites: dict[str, _SitePool] = {}
        """Running site pools, by site root."""
        self._folders: dict[str, str] = {}
        """Each site's folder, by site root: kept when its pool stops, so its sessions outlive idle spells."""
        self._startup_vm: int | None = None
        """Bytes php-cgi maps before it runs a page (measured once)."""
        self._measure_lock = trio.Lock()
        self._page_param_cache: dict[tuple[str, str], bytes] = {}
        """(page file, site root) -> the encoded CGI variables that no request of the page changes."""
        self.stats: dict[str, int] = {"requests": 0, "errors": 0, "killed": 0, "budget.memory": 0, "budget.time": 0,
                                      "budget.instructions": 0, "host_calls.refused": 0}

    def available(self) -> Availability:
        path = shutil.which(self.binary)
        if path is None:
            return Availability(False, reason="php-cgi not found: apt-get install php-cgi")
        return Availability(True, version=f"php-cgi ({path})")

    def configure(self, cfg: RuntimeConfig) -> None:
        self.dev = cfg.dev
        for key, value in cfg.options.items():
            if key == "processes" or key == "max_requests":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"php.{key}: expected a positive integer, got {value!r}")
                setattr(self, key, value)
            elif key == "idle_timeout":
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise ConfigError(f"php.idle_timeout: expected a positive number of seconds, got {value!r}")
                self.idle_timeout = float(value)
            elif key == "exec_sites":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"php.exec_sites: expected a list of site names, got {value!r}")
                self.exec_sites = frozenset(v.lower() for v in value)
            elif key == "user":
                if not isinstance(value, str) or not value:
                    raise ConfigError(f"php.user: expected a user name, got {value!r}")
                try:
                    entry = pwd.getpwnam(value)
                except KeyError:
                    raise ConfigError(f"php.user: no user named {value!r}") from None
                if entry.pw_uid == 0:
                    raise ConfigError("php.user: must not be root")
                self.user = (entry.pw_uid, entry.pw_gid)
            elif key == "binary":
                if not isinstance(value, str):
                    raise ConfigError(f"php.binary: expected a string, got {value!r}")
                self.binary = value
            elif key == "ini":
                if not isinstance(value, dict) or not all(isinstance(v, str | int | float | bool) for v in value.values()):
                    raise ConfigError("php.ini: expected a table of ini settings")
                self.ini = {str(k): str(v) for k, v in value.items()}
                fixed = sorted(set(self.ini) & set(FIXED_INI))
                if fixed:
                    raise ConfigError(f"php.ini.{fixed[0]}: set by DynLan, which splits PATH_INFO itself")
            else:
                raise ConfigError(f"unknown key 'php.{key}'")

    async def start(self, host: Host) -> None:
        self.host = host
        self._tmp = private_folder("php")
        if self.user is not None:
            if os.geteuid() != 0:
                log.warning("php.user is ignored: only a server running as root can run php-cgi as another user")
                self.user = None
            else:
                # php-cgi must get through to its site's private folder and host socket (nothing is listed).
                os.chmod(self._tmp, 0o711)
        assert host.nursery is not None
        host.nursery.start_soon(self._stop_idle_pools)

    async def aclose(self) -> None:
        for site in list(self._sites.values()):
            await self._close_site(site)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def statistics(self) -> dict[str, int | float]:
        out: dict[str, int | float] = dict(self.stats)
        out["sites"] = len(self._sites)
        for site in self._sites.values():
            for k, v in site.pool.statistics().items():
                out[f"pool.{k}"] = out.get(f"pool.{k}", 0) + v
        return out

    # -- a site's pool -----------------------------------------------------------

    def _binary(self) -> str:
        binary = shutil.which(self.binary)
        if binary is None:
            raise PageError("php-cgi not found: apt-get install php-cgi")
        return binary

    def _base_ini(self, ctx: PageContext) -> dict[str, str]:
        limits = ctx.limits
        return {
            "auto_prepend_file": PRELUDE,
            "display_errors": "0",
            "log_errors": "1",
            "html_errors": "0",
            "memory_limit": str(limits.memory),
            "max_execution_time": str(max(1, int(limits.wall_time))),
            "output_buffering": "0",
            "implicit_flush": "0",
            "expose_php": "0",
            # PHP_SELF = SCRIPT_NAME + PATH_INFO only with fix_pathinfo=1; with 0, PHP would run
            # PATH_TRANSLATED (`/info.php/uploads/image.jpg` would run the upload). Its own guessing
            # (walking back from a missing SCRIPT_FILENAME to `image.jpg`, the nginx/PHP upload attack)
            # never starts: SCRIPT_FILENAME is always a page file the router found.
            "cgi.fix_pathinfo": "1",
            "cgi.discard_path": "0",
            "post_max_size": str(ctx.max_body_size),
            "upload_max_filesize": str(ctx.max_body_size),
        }

    async def _measure_startup(self) -> int:
        """What php-cgi maps before it runs a page (VmSize: its binary, extensions, opcache's shared memory)."""
        async with self._measure_lock:
            if self._startup_vm is not None:
                return self._startup_vm
            probe = os.path.join(self._tmp, "probe.php")
            with open(probe, "w") as f:
                f.write("<?php readfile('/proc/self/status');\n")
            argv = [self._binary(), "-q"]
            for k, v in self.ini.items():
                argv += ["-d", f"{k}={v}"]
            proc = await spawn([*argv, probe], cwd=self._tmp, env=_php_env(1), stdin=subprocess.DEVNULL)
            output = b""
            try:
                assert proc.stdout is not None
                with trio.move_on_after(10):
                    while chunk := await proc.stdout.receive_some(65536):
                        output += chunk
            finally:
                proc.kill()
                with trio.CancelScope(shield=True):
                    await proc.wait()
                forget(proc.pid)
            match = re.search(rb"^VmSize:\s+(\d+) kB", output, re.M)
            self._startup_vm = int(match.group(1)) * 1024 if match else ADDRESS_SPACE_FALLBACK
            log.info("php-cgi maps %d MiB before it runs a page", self._startup_vm // MIB)
            return self._startup_vm

    def _limits(self, ctx: PageContext, allow_exec: bool) -> Limits:
        assert self._startup_vm is not None
        # RLIMIT_AS is what holds once a page lifts memory_limit (PHP then fails with "Out of memory"):
        # the page's budget on top of what php-cgi needs to start. Without allow_exec php-cgi may not
        # fork at all (mail through error_log() type 1 would start a shell; pcntl and friends are
        # disabled but the cap holds whatever a page finds).
        return Limits(address_space=ctx.limits.memory + self._startup_vm + ADDRESS_SPACE_MARGIN, max_open_files=1024,
                      max_processes=EXEC_MAX_PROCESSES if allow_exec else 1)

    def _folder(self, root: str) -> str:
        folder = self._folders.get(root)
        if folder is None:
            folder = os.path.join(self._tmp, f"site-{len(self._folders) + 1}")
            private = os.path.join(folder, "private")
            os.mkdir(folder, 0o700 if self.user is None else 0o711)
            for path in (private, os.path.join(private, "sessions"), os.path.join(private, "uploads")):
                os.mkdir(path, 0o700)
                if self.user is not None:
                    os.chown(path, *self.user)
            self._folders[root] = folder
        return folder

    def _site(self, ctx: PageContext) -> _SitePool:
        """The site's pool, made on its first PHP request (and again after it stopped for being idle)."""
        root = ctx.fs.root
        site = self._sites.get(root)
        if site is not None:
            return site
        binary = self._binary()
        folder = self._folder(root)
        allow_exec = ctx.options.get("allow_exec") is True and ctx.site_name in self.exec_sites
        # The server's ini settings, with the site's own on top where its dynlan.toml has some (checked by
        # `site_options`: none that confines it or sets its budgets).
        extra = ctx.options.get("ini")
        ini = {**self._base_ini(ctx), **confinement_ini(root, os.path.join(folder, "private"), allow_exec),
               **({str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else self.ini)}
        limits = self._limits(ctx, allow_exec)
        argv = [binary]
        for k, v in ini.items():
            argv += ["-d", f"{k}={v}"]
        env = _php_env(self.max_requests + 1)

        socket_path = os.path.join(folder, "host.sock")
        with _suppress_missing():
            os.unlink(socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(socket_path)
            os.chmod(socket_path, 0o600)  # php-cgi's user connects (connecting takes write permission)
            if self.user is not None:
                os.chown(socket_path, *self.user)
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        site = _SitePool(root, folder, socket_path, trio.socket.from_stdlib_socket(sock))

        async def start() -> trio.Process:
            site.forget_ended()
            # php-cgi accepts FastCGI connections on its fd 0. The socket's path is removed once dynlan is
            # connected, before php-cgi even starts: no one else (a page of another site that found the
            # path) can ever send this php-cgi a request, which would run any file of this site's.
            path = os.path.join(folder, f"fcgi-{secrets.token_hex(8)}.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                try:
                    listener.bind(path)
                    listener.listen(1)
                    client.connect(path)
                finally:
                    with _suppress_missing():
                        os.unlink(path)
                proc = await spawn(argv, cwd=root, env=env, limits=limits, stderr=None, stdin=listener.fileno(),
                                   user=self.user, waits_for_work=True)
            except BaseException:
                client.close()
                raise
            finally:
                listener.close()
            site.workers[proc] = trio.SocketStream(trio.socket.from_stdlib_socket(client))
            return proc

        assert self.host is not None and self.host.nursery is not None
        site.pool = ProcessPool(start, size=self.processes, max_requests=self.max_requests,
                                idle_timeout=self.idle_timeout, nursery=self.host.nursery)
        self._sites[root] = site
        self.host.nursery.start_soon(self._serve_host_calls, site)
        return site

    async def _close_site(self, site: _SitePool) -> None:
        if self._sites.get(site.root) is site:
            del self._sites[site.root]
        site.scope.cancel()
        site.listener.close()
        with _suppress_missing():
            os.unlink(site.socket_path)
        await site.pool.aclose()
        site.forget_ended()
        for stream in site.workers.values():
            stream.socket.close()
        site.workers.clear()

    async def _stop_idle_pools(self) -> None:
        """Stop php-cgi processes idle for `idle_timeout`, and close the sites left with none."""
        interval = min(max(self.idle_timeout / 4, 0.05), 15.0)
        while True:
            await trio.sleep(interval)
            for site in list(self._sites.values()):
                await site.pool.stop_idle()
                site.forget_ended()
                # Checked after the await: a request may have come meanwhile.
                if site.users == 0 and site.pool.workers == 0 and site.pool.in_use == 0:
                    await self._close_site(site)

    # -- a request -------------------------------------------------------------

    def _params(self, ctx: PageContext, token: str, length: int) -> bytes:
        """The request's CGI variables as FastCGI name-value pairs; what no request changes is encoded once."""
        r = ctx.request
        host = r.host
        bare_host = ":" in host and not host.endswith("]")
        version = r.http_version
        client = r.client
        # As the request carried them (latin-1 round-trips the bytes).
        env: dict[bytes, str] = {
            # As nginx passes it: HTTP/1.1, HTTP/2.0, HTTP/3.0.
            b"SERVER_PROTOCOL": f"HTTP/{version}" if "." in version else f"HTTP/{version}.0",
            b"SERVER_NAME": host.rpartition(":")[0] if bare_host else host,
            b"SERVER_PORT": host.rpartition(":")[2] if bare_host else ("443" if r.scheme == "https" else "80"),
            b"REQUEST_METHOD": r.method,
            b"REQUEST_URI": r.target if r.target.startswith("/") else r.path + (f"?{r.query_string}" if r.query_string else ""),
            b"QUERY_STRING": r.query_string,
            b"DOCUMENT_URI": r.path,
            b"REMOTE_ADDR": client[0] if client else "",
            b"REMOTE_PORT": str(client[1]) if client else "",
            b"DYNLAN_TOKEN": token,
            b"DYNLAN_REQUEST_ID": r.request_id,
        }
        if r.scheme == "https":
            env[b"HTTPS"] = "on"
        if ctx.dev:
            env[b"DYNLAN_DEV"] = "1"  # the prelude reports the page's peak memory for the dev error page
        headers = r.headers
        ctype = headers.get("content-type")
        if ctype is not None:
            env[b"CONTENT_TYPE"] = ctype
        if length or "content-length" in headers:
            env[b"CONTENT_LENGTH"] = str(length)
        for name, value in headers.as_dict().items():
            key = _cgi_header(name)
            if key is not None:
                env[key] = value
        # Decoded paths and route parameters: UTF-8, as the file system and nginx pass them.
        decoded: dict[str, str] = {"PHP_SELF": _script_name(ctx.page, ctx.fs.root) + ctx.path_info,
                                   "PATH_INFO": ctx.path_info}
        if ctx.path_info:
            # RFC 3875 §4.1.6: the path info mapped onto the document root; left out without path info.
            decoded["PATH_TRANSLATED"] = ctx.fs.root + ctx.path_info
        for name, value in ctx.params.items():
            decoded[f"DYNLAN_PARAM_{name}"] = value
        return (self._page_params(ctx.page, ctx.fs.root)
                + encode_pairs((k, v.encode("latin-1", "replace")) for k, v in env.items())
                + encode_pairs((os.fsencode(k), os.fsencode(v)) for k, v in decoded.items()))

    def _page_params(self, page: str, root: str) -> bytes:
        """The CGI variables every request shares, and those of one page's requests: encoded once."""
        data = self._page_param_cache.get((page, root))
        if data is None:
            host_socket = os.path.join(self._folder(root), "host.sock")  # the same for the site's every pool
            data = self._page_param_cache[page, root] = encode_pairs([(k.encode(), os.fsencode(v)) for k, v in (
                ("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_SOFTWARE", SERVER_NAME), ("REDIRECT_STATUS", "200"),
                ("DYNLAN_HOST_SOCKET", host_socket), ("SCRIPT_FILENAME", page),
                ("SCRIPT_NAME", _script_name(page, root)), ("DOCUMENT_ROOT", root))])
        return data

    def begin(self, ctx: PageContext) -> Awaitable[None]:
        """A PHP page always waits (for its php-cgi process): all of it runs in what this returns."""
        return self._run_page(ctx)

    async def _run_page(self, ctx: PageContext) -> None:
        self.stats["requests"] += 1
        if self._startup_vm is None:
            await self._measure_startup()
        site = self._site(ctx)
        site.users += 1
        try:
            await self._handle(ctx, site)
        finally:
            site.users -= 1

    async def _handle(self, ctx: PageContext, site: _SitePool) -> None:
        length = ctx.body_length
        if ctx.body_read or length == 0:
            body = ctx.body_nowait() or b""
            await self._run(ctx, site, body, len(body))
        elif length is not None:
            # A declared length over the site's limit was refused (413) before the page was chosen.
            await self._run(ctx, site, ctx.receive_body, length)  # streamed: an upload is never held whole
        else:
            # PHP reads no more of a body than CONTENT_LENGTH says, so a body whose length only its end
            # tells is read whole first, as nginx does before it calls PHP-FPM: in memory up to
            # SPOOL_MEMORY, then in a temporary file, never past max_body_size (413). No php-cgi
            # process is held while a slow client sends it.
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=self._tmp) as spool:
                file = trio.wrap_file(spool)
                size = 0
                while chunk := await ctx.receive_body():
                    await file.write(chunk)
                    size += len(chunk)
                await file.seek(0)

                async def spooled() -> bytes:
                    return await trio.to_thread.run_sync(spool.read, BODY_CHUNK)

                source: bytes | BodySource = spooled if size > SPOOL_MEMORY else spool.read()
                await self._run(ctx, site, source, size)

    async def _run(self, ctx: PageContext, site: _SitePool, body: bytes | BodySource, length: int) -> None:
        # 128 random bits per request: no token tells anything about another (a key and a counter did:
        # a page derived the tokens of requests in flight and read files as them).
        token = secrets.token_urlsafe(16)
        site.tokens[token] = ctx
        outcome: tuple[CgiHeadParser, str] | None = None
        pool = site.pool
        try:
            async with pool.lease() as worker:
                try:
                    outcome = await self._exchange(ctx, site, worker, self._params(ctx, token, length), body)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    # The php-cgi process went away mid-request (it crashed or was killed).
                    raise PoolError("php-cgi closed the connection mid-request") from None
                except trio.Cancelled:
                    # The page's wall-time scope (run_page's, which a WebSocket or event stream moves to its
                    # lifetime) ran out: its process is killed (run_page answers 503). A cancellation for
                    # another reason (the client went, the server stops) costs the process too, since its
                    # connection was left mid-request, but is no budget.
                    if trio.current_time() >= ctx.wall_deadline:
                        pool.kill(worker)
                        self.stats["killed"] += 1
                        self.stats["budget.time"] += 1
                    raise
        except PoolError as exc:
            self.stats["errors"] += 1
            raise PageError(f"php-cgi failed: {exc}") from None
        except OSError as exc:
            self.stats["errors"] += 1
            raise PageError(f"php-cgi is not reachable: {exc}") from None
        finally:
            del site.tokens[token]
        # FCGI_END_REQUEST came: whatever PHP reported (a fatal or parse error, its memory or CPU
        # limit) ended a complete response, so the errors are judged outside the lease and the
        # process, and its connection, serve the next request (as PHP-FPM's workers do).
        assert outcome is not None
        head, errors = outcome
        self._check_errors(ctx, errors)
        if head.head is None:
            raise PageError("php-cgi sent no response head", errors)
        self._apply_head(ctx, head)

    async def _exchange(self, ctx: PageContext, site: _SitePool, worker: Worker, params: bytes,
                        body: bytes | BodySource) -> tuple[CgiHeadParser, str]:
        """One request on php-cgi's connection: the response head and what PHP wrote to stderr."""
        # One FastCGI connection per php-cgi process, kept open between requests (FCGI_KEEP_CONN): the
        # only one the process accepts (see `_site`).
        stream = site.workers.get(worker.proc)
        if stream is None:
            raise PoolError("php-cgi has no connection")
        try:
            fcgi = FastCGIConnection()
            if isinstance(body, bytes):
                # Most requests: the whole request in one write, no body task.
                await _fcgi_send(stream, fcgi.request(REQUEST_ID, params, body, keep_conn=True))
                return await self._read_response(ctx, stream, fcgi)
            await stream.send_all(fcgi.begin_request(REQUEST_ID, keep_conn=True) + fcgi.params_data(REQUEST_ID, params))
            # Raised below, outside the nursery (no exception group): the body's failure (413,
            # 408, a client gone) as the client should hear it, or the response's.
            failures: list[Exception] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._send_body, stream, body, failures, nursery.cancel_scope)
                try:
                    outcome = await self._read_response(ctx, stream, fcgi)
                except Exception as exc:
                    failures.append(exc)
                nursery.cancel_scope.cancel()
            if failures:
                raise failures[0]
            return outcome
        except BaseException:
            # A connection left mid-response is never reused; being the process's only one, the process
            # goes with it (the lease replaces a broken worker).
            worker.broken = True
            site.workers.pop(worker.proc, None)
            stream.socket.close()
            raise

    @staticmethod
    async def _send_body(stream: trio.SocketStream, body: BodySource, failures: list[Exception],
                         exchange: trio.CancelScope) -> None:
        """Send the request body to PHP as it comes from `body` (a body is never held whole here).

        A failure to get the body ends the whole exchange (`exchange` is its scope), since PHP
        would wait for the rest of the body forever.
        """
        try:
            while chunk := await body():
                await stream.send_all(FastCGIConnection.stdin(REQUEST_ID, chunk))
            await stream.send_all(FastCGIConnection.stdin(REQUEST_ID, b""))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # PHP answered without reading everything
        except Exception as exc:
            failures.append(exc)
            exchange.cancel()

    async def _read_response(self, ctx: PageContext, stream: trio.SocketStream,
                             fcgi: FastCGIConnection) -> tuple[CgiHeadParser, str]:
        head = CgiHeadParser()
        stderr: list[str] = []
        pending = False
        ended = False
        while not ended:
            data = b""
            if pending:
                # Most of a page's output is there at once (its end too): the pause's scope is entered only
                # to wait for more.
                await trio.lowlevel.checkpoint_if_cancelled()
                now = _fcgi_read_now(stream)
                if now is None:
                    with trio.move_on_after(PAUSE):
                        data = await _fcgi_wait(stream)
                else:
                    data = now
                if not data:
                    if head.head is None:
                        pending = False
                        continue
                    # PHP paused (flush(), a slow page): send what it wrote so far.
                    self._apply_head(ctx, head)
                    await ctx.response.flush()
                    pending = False
                    continue
            else:
                data = await _fcgi_receive(stream)
                if not data:
                    raise PageError("php-cgi closed the connection before ending the request")
            fcgi.receive_data(data)
            while True:
                try:
                    event = fcgi.next_event()
                except FastCGIError as exc:
                    raise PageError(f"php-cgi sent invalid FastCGI: {exc}") from None
                if event is None:
                    break
                if isinstance(event, Stdout):
                    try:
                        body = head.feed(event.data)
                    except FastCGIError as exc:
                        raise PageError(str(exc)) from None
                    if body:
                        ctx.response.write(body)
                    pending = True
                elif isinstance(event, Stderr):
                    text = event.data.decode("utf-8", "replace")
                    stderr.append(text)
                    for line in text.rstrip().splitlines():
                        log.warning("[%s] %s: %s", ctx.request.request_id, ctx.page_name, line)
                elif isinstance(event, EndRequest):
                    ended = True
        return head, "".join(stderr)

    def _apply_head(self, ctx: PageContext, head: CgiHeadParser) -> None:
        response = ctx.response
        if response.streaming or head.head is None:
            return
        response.set_status(head.head.status)
        response.headers.remove("content-type")
        for name, value in head.head.headers:
            if name in ("content-length", "transfer-encoding", "connection"):
                continue  # framing is the server's
            response.add_header(name, value)

    def _check_errors(self, ctx: PageContext, errors: str) -> None:
        if "Allowed memory size of" in errors:
            self.stats["budget.memory"] += 1
            raise BudgetExceeded("memory", "PHP page used more than its memory budget (memory_limit)")
        if "Out of memory (allocated" in errors:
            # The OS limit under a page that lifted memory_limit (RLIMIT_AS, see `_limits`).
            self.stats["budget.memory"] += 1
            raise BudgetExceeded("memory", "PHP page used more than its memory budget (address space)")
        if "Maximum execution time of" in errors:
            self.stats["budget.instructions"] += 1
            raise BudgetExceeded("instructions", "PHP page used more than its CPU budget (max_execution_time)")
        if "PHP Fatal error" in errors or "PHP Parse error" in errors:
            self.stats["errors"] += 1
            first = next((line for line in errors.splitlines() if "PHP Fatal error" in line or "PHP Parse error" in line), errors)
            root = ctx.fs.root + os.sep
            message = first.split("error:", 1)[-1].strip().replace(root, "")
            match = _FATAL_LOCATION.search(errors)
            file, line = (match.group(1), int(match.group(2))) if match else (None, None)
            kind, headline, frames = _describe(first, message, errors, file, line)
            raise PageError(message, errors.replace(root, ""), file, line, kind=kind, headline=headline,
                            frames=frames)

    # -- host calls from the prelude ----------------------------------------------

    async def _serve_host_calls(self, site: _SitePool) -> None:
        with site.scope:
            await trio.serve_listeners(functools.partial(self._serve_connection, site),
                                       [trio.SocketListener(site.listener)])

    async def _serve_connection(self, site: _SitePool, stream: trio.SocketStream) -> None:
        """One page's host calls: its token on the first line, then one JSON line each way per call."""
        async with stream:
            buffer = bytearray()
            # The token comes first and alone, so a connection without one costs no more than a few bytes
            # and a few seconds (a page of another site cannot make the server buffer its calls).
            with trio.move_on_after(HANDSHAKE_TIMEOUT):
                while b"\n" not in buffer and len(buffer) <= MAX_TOKEN_LINE:
                    data = await _receive(stream)
                    if not data:
                        return
                    buffer += data
            end = buffer.find(b"\n")
            if end < 0:
                return
            ctx = self._authenticate(site, bytes(buffer[:end]))
            del buffer[: end + 1]
            if ctx is None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(_refusal("unknown or finished request"))
                return
            connections = site.connections.get(ctx, 0)
            if connections >= MAX_CONNECTIONS:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(_refusal("too many host connections for one request"))
                return
            site.connections[ctx] = connections + 1
            try:
                while not ctx.closed:
                    while (end := buffer.find(b"\n")) >= 0:
                        reply = await self._answer(ctx, bytes(buffer[:end]))
                        del buffer[: end + 1]
                        try:
                            await stream.send_all(reply)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            return
                    if len(buffer) > MAX_CALL:
                        return
                    data = await _receive(stream)
                    if not data:
                        return
                    buffer += data
            finally:
                if site.connections[ctx] <= 1:
                    del site.connections[ctx]
                else:
                    site.connections[ctx] -= 1

    def _authenticate(self, site: _SitePool, line: bytes) -> PageContext | None:
        """The request in flight a token belongs to, if it is one of this site's."""
        # Only this site's requests are looked up, so a token of another site's is refused here even if a
        # page learnt it. A dict lookup is a fair comparison for a 128-bit random token: two strings are
        # compared only when their hashes (keyed per process) match in full, so the time a wrong guess
        # takes says nothing about how close it came.
        ctx = site.tokens.get(line.decode("ascii", "replace").strip())
        if ctx is None or ctx.closed:
            self.stats["host_calls.refused"] += 1
            return None
        return ctx

    async def _answer(self, ctx: PageContext, line: bytes) -> bytes:
        """Marshal one call to the host-call table and its answer back: JSON in, JSON out."""
        try:
            message = json.loads(line)
        except ValueError:
            return _refusal("malformed host call")
        if not isinstance(message, dict):
            return _refusal("malformed host call")
        op, args = message.get("op"), message.get("args", [])
        if not isinstance(op, str) or not isinstance(args, list):
            return _refusal("malformed host call")
        if op not in PHP_OPERATIONS:
            return _refusal(f"unknown host call '{op}'")
        try:
            value = await call(ctx, op, tuple(args))
        except (HostCallError, BudgetExceeded) as exc:
            # A budget a call spent (a template rendered past the page's wall time) is the page's error to see.
            return _refusal(str(exc))
        except Exception as exc:  # anything else ends this call, never the server's task
            log.warning("[%s] %s: host call %s failed: %r", ctx.request.request_id, ctx.page_name, op, exc)
            return _refusal(f"host call '{op}' failed")
        try:
            return json.dumps({"ok": True, "value": value}, separators=(",", ":"), default=_jsonable).encode() + b"\n"
        except (TypeError, ValueError) as exc:
            return _refusal(f"host call '{op}' returned a value PHP cannot take: {exc}")

    site_keys: frozenset[str] = SITE_KEYS
    """A site's [php] table may set `ini` (not DynLan's settings) and `allow_exec` (where exec_sites grants it)."""

    def site_options(self, server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
        return php_site_options(server, site, source, site_name)


async def _receive(stream: trio.SocketStream) -> bytes:
    try:
        return await stream.receive_some(65536)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return b""


def _refusal(message: str) -> bytes:
    return json.dumps({"ok": False, "error": message}, separators=(",", ":")).encode() + b"\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")  # bytes a Lua page cached: PHP strings from JSON are UTF-8
    raise TypeError(f"{type(value).__name__} is not JSON")


def _php_env(max_requests: int) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PHP_FCGI_CHILDREN": "0",
            "PHP_FCGI_MAX_REQUESTS": str(max_requests), "LANG": "C.UTF-8"}


def _suppress_missing() -> contextlib.suppress:
    return contextlib.suppress(FileNotFoundError)
