"""Starting one confined worker process on trio.

The child gets only the pipes it is given (close_fds), a working directory,
its own session (so the whole process group can be killed), and rlimits on
CPU seconds and address space applied before it runs anything of a page's: in the
forked child before it executes the program, or, for a program that waits to be
given work (php-cgi), from the server once it has started (see `spawn`).

A process a page starts can leave its session (`setsid`) and so escape a kill
of the process group. The serving process therefore makes itself a child
subreaper (Linux `PR_SET_CHILD_SUBREAPER`): a descendant whose parent dies is
re-parented to it instead of to init, so it stays in sight. `kill_tree` kills
a worker with every descendant it can find, and `kill_strays` kills any child
of the serving process that it did not start itself (an orphan left behind by
page code).

A serving process killed outright (SIGKILL, the out-of-memory killer) runs no
clean-up: its php-cgi and sandbox workers, in sessions of their own, would
live on. The supervisor is a subreaper too, so they become its children once
the serving process is gone; `kill_orphans` ends them. The runtimes' private
temporary folders carry the serving process's pid in their names
(`private_folder`), so `remove_private_folders` finds a dead worker's folders.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio

log = logging.getLogger("dynlan.sandbox")

_PR_SET_CHILD_SUBREAPER = 36
_started: set[int] = set()
"""Pids of the worker processes this process started (everything else that becomes its child is a stray)."""
_spawning = 0
"""Spawns in flight: trio forks in a thread, so a new worker is a child before its pid is in `_started`."""

@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: int | None = None
    """RLIMIT_CPU hard limit for the process's whole life (a backstop; per-request CPU is watched by the host)."""
    address_space: int | None = None
    """RLIMIT_AS in bytes."""
    max_open_files: int | None = 256
    max_processes: int | None = None
    """Processes the worker and its descendants may have at once: a cgroup `pids.max` where the pids
    controller can be written (as root), else RLIMIT_NPROC (which the kernel does not apply to root)."""


def _preexec(limits: Limits, user: tuple[int, int] | None = None) -> Callable[[], None]:
    def apply() -> None:
        _limit(0, limits)
        if user is not None:
            # Last: joining the cgroup and setting the limits need the privileges the switch gives up.
            uid, gid = user
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    return apply


def _limit(pid: int, limits: Limits) -> None:
    """Apply `limits` to process `pid` (0: the calling one, between fork and exec: only system calls)."""
    if limits.cpu_seconds is not None:
        resource.prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
    if limits.address_space is not None:
        resource.prlimit(pid, resource.RLIMIT_AS, (limits.address_space, limits.address_space))
    if limits.max_open_files is not None:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
    if limits.max_processes is not None and not _join_pids_cgroup(pid or os.getpid(), limits.max_processes):
        resource.prlimit(pid, resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))


_PIDS_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")


def _join_pids_cgroup(pid: int, max_processes: int) -> bool:
    """Move process `pid` into a cgroup of its own capped at `max_processes` tasks.

    May run between fork and exec: only system calls, no logging. Returns False where no pids controller can be
    written (not root, or no cgroup file system), so the caller falls back to RLIMIT_NPROC.
    """
    for root in _PIDS_ROOTS:
        if not os.path.exists(os.path.join(root, "pids.max")) and not os.path.exists(
                os.path.join(root, "cgroup.procs")):
            continue
        group = os.path.join(root, f"dynlan-{pid}")
        try:
            os.mkdir(group)
        except FileExistsError:
            pass
        except OSError:
            continue
        try:
            with open(os.path.join(group, "pids.max"), "w") as f:
                f.write(str(max_processes))
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            return True
        except OSError:
            try:
                os.rmdir(group)
            except OSError:
                pass
    return False


def tree_size(pid: int) -> int | None:
    """How many tasks the pids cgroup worker `pid` made for itself holds: the worker, its threads, and every
    process below it, re-parented ones included (a cgroup is kept across re-parenting). None where it made none."""
    fd = _size_files.get(pid)
    if fd is not None:
        try:
            return int(os.pread(fd, 32, 0))
        except (OSError, ValueError):
            # The cgroup went (and the pid may now be another worker's): open its file anew.
            os.close(_size_files.pop(pid))
    for root in _PIDS_ROOTS:
        try:
            fd = os.open(os.path.join(root, f"dynlan-{pid}", "pids.current"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            size = int(os.pread(fd, 32, 0))
        except (OSError, ValueError):
            os.close(fd)
            return None
        _size_files[pid] = fd
        return size
    return None


_size_files: dict[int, int] = {}
"""Open `pids.current` files of live workers' cgroups, read again for each request (closed with the cgroup)."""


_pending_groups: set[str] = set()
"""pids cgroups of ended workers that still held processes not yet collected (killed descendants): removed by a
later `kill_strays` or `kill_orphans`, once they are."""


def remove_pids_cgroup(pid: int) -> None:
    """Remove the pids cgroup a finished worker made for itself (a no-op where it made none)."""
    fd = _size_files.pop(pid, None)
    if fd is not None:
        os.close(fd)
    for root in _PIDS_ROOTS:
        _remove_group(os.path.join(root, f"dynlan-{pid}"))


def _remove_group(group: str) -> None:
    try:
        os.rmdir(group)
    except FileNotFoundError:
        _pending_groups.discard(group)
    except OSError:
        # EBUSY: a killed process in it is not collected yet.
        if os.path.isdir(group):
            _pending_groups.add(group)
    else:
        _pending_groups.discard(group)


def groups_pending() -> bool:
    """Some ended worker's pids cgroup waits for its last processes to be collected."""
    for group in list(_pending_groups):
        _remove_group(group)
    return bool(_pending_groups)


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux only; False elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (every thread's list)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid` still attached to it (children first)."""
    out: list[int] = []
    todo = children(pid)
    seen: set[int] = set()
    while todo:
        child = todo.pop()
        if child in seen:
            continue
        seen.add(child)
        out.append(child)
        todo.extend(children(child))
    return out


def _kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def spawn(argv: Sequence[str], *, cwd: str, env: dict[str, str] | None = None, limits: Limits = Limits(),
                stderr: int | None = subprocess.DEVNULL, stdin: int = subprocess.PIPE,
                user: tuple[int, int] | None = None, waits_for_work: bool = False) -> trio.Process:
    """Start `argv` with stdin/stdout pipes and nothing else inherited.

    `stdin` may instead be a file descriptor the child gets as its fd 0 (php-cgi's FastCGI listening socket).
    `user` is a (uid, gid) the child runs as, without supplementary groups (the caller must be root).

    `waits_for_work`: the program runs nothing it is not given and starts no process before it is given work
    (php-cgi waiting for its first FastCGI request). Its limits are then applied from here once it has started,
    before this returns and so before any work can reach it, and the child is started without copying this
    process (vfork): forking a large server costs it about 10 ms of CPU per worker started. Otherwise (and
    whenever `user` is given) they are applied in the forked child before it executes `argv`.
    """
    global _spawning
    early = user is not None or not waits_for_work
    _spawning += 1
    try:
        proc = await trio.lowlevel.open_process(
            list(argv),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            env=env,
            close_fds=True,
            start_new_session=True,
            preexec_fn=_preexec(limits, user) if early else None,
        )
        _started.add(proc.pid)
        if not early:
            try:
                # In a thread: moving a process into a cgroup waits in the kernel for milliseconds (an RCU grace
                # period), which would stall every request of this server.
                await trio.to_thread.run_sync(_limit, proc.pid, limits)
            except OSError:
                # It ended already, or cannot be confined: it never gets work.
                kill_group(proc)
                with trio.CancelScope(shield=True):
                    await proc.wait()
                forget(proc.pid)
                raise
    finally:
        _spawning -= 1
    return proc


def kill_group(proc: trio.Process) -> None:
    """Kill the worker and everything it started: its process group, and descendants that left it (`setsid`)."""
    # Found before anything dies: once a parent is gone its children move to the subreaper.
    tree = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    for pid in tree:
        _kill_pid(pid)
    # Killed above already: re-parented here as they die, they are not strays of page code.
    kill_strays(expected=set(tree))


def kill_descendants(pid: int) -> int:
    """Kill every descendant of a live worker (what its last request started), keeping the worker."""
    tree = descendants(pid)
    for child in tree:
        _kill_pid(child)
    return len(tree)


def kill_strays(expected: set[int] | None = None) -> int:
    """Kill the children of this process that it did not start: orphans of page code re-parented here.

    `expected` are processes the caller has just killed (not counted as strays)."""
    if _spawning:
        # A child not yet in `_started` may be a worker being started: strays wait for the next call.
        return 0
    me = os.getpid()
    mine = children(me)
    _started.intersection_update(mine)
    count = 0
    for pid in mine:
        if pid in _started or _reaped(pid):
            continue
        tree = descendants(pid)
        _kill_pid(pid)
        for child in tree:
            _kill_pid(child)
        if expected is None or pid not in expected:
            count += 1
        _reaped(pid)
    if count:
        log.warning("killed %d process(es) left behind by page code", count)
    groups_pending()
    return count


def _reaped(pid: int) -> bool:
    """Collect a stray that has ended (nobody else waits for it: it would stay a zombie child of the server)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:
        return True


def forget(pid: int) -> None:
    """A worker this process started has been reaped."""
    _started.discard(pid)
    # Its descendants, killed with it, are collected first: its cgroup can go once they are.
    kill_strays()
    remove_pids_cgroup(pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


PRIVATE_KINDS = ("php", "python")
"""The runtimes that make a private temporary folder per serving process (`dynlan-<kind>-<pid>-*`)."""


_swept = False


def private_folder(kind: str) -> str:
    """A new private temporary folder for runtime `kind` of this process, named with its pid.

    The first one a process makes comes after `remove_stale_private_folders`: what a server killed with all
    its processes at once left (SIGKILL of its process group, the out-of-memory killer) goes with the next.
    """
    global _swept
    assert kind in PRIVATE_KINDS
    if not _swept:
        _swept = True
        remove_stale_private_folders()
    return tempfile.mkdtemp(prefix=f"dynlan-{kind}-{os.getpid()}-")


def remove_stale_private_folders() -> int:
    """Remove the private temporary folders of this user whose process is gone; returns how many there were.

    A process killed outright removes nothing, and when its supervisor is killed with it (a whole process
    group killed at once) nobody is left to remove its folders (`remove_private_folders`).
    """
    base = tempfile.gettempdir()
    removed = 0
    try:
        names = os.listdir(base)
    except OSError:
        return 0
    for name in names:
        kind, _, rest = name.removeprefix("dynlan-").partition("-")
        pid = rest.partition("-")[0]
        if not name.startswith("dynlan-") or kind not in PRIVATE_KINDS or not pid.isdigit():
            continue
        path = os.path.join(base, name)
        try:
            if os.lstat(path).st_uid != os.geteuid() or _running(int(pid)):
                continue  # another user's, or its process still runs
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def _running(pid: int) -> bool:
    """Whether process `pid` runs: a zombie (ended, its exit status not collected, as happens to orphans where
    the machine's init does not reap) has ended."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return False
    return state != [b"Z"]


def remove_private_folders(pid: int) -> int:
    """Remove the private temporary folders a serving process `pid` (ended) made; returns how many there were."""
    base = tempfile.gettempdir()
    removed = 0
    try:
        names = os.listdir(base)
    except OSError:
        return 0
    for name in names:
        if any(name.startswith(f"dynlan-{kind}-{pid}-") for kind in PRIVATE_KINDS):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            removed += 1
    return removed


def kill_orphans(keep: set[int]) -> tuple[int, int]:
    """Kill every child of this process but `keep`, with its descendants, and collect those that ended.

    Meant for a subreaper whose own children are all in `keep` (the supervisor and its workers): any other
    child is a process a dead worker started (php-cgi, a sandbox worker), re-parented here. Returns
    (killed, still waiting to be collected); call again while the second is not zero.
    """
    killed = waiting = 0
    for pid in children(os.getpid()):
        if pid in keep:
            continue
        tree = [pid, *descendants(pid)]
        for each in tree:
            _pending_groups.update(_pids_groups(each))
            # A process that already ended (a zombie) no longer names its cgroup in /proc; the one a worker made
            # for itself is named after it.
            _pending_groups.update(group for root in _PIDS_ROOTS
                                   if os.path.isdir(group := os.path.join(root, f"dynlan-{each}")))
        for each in reversed(tree):
            _kill_pid(each)
        if _reaped(pid):
            killed += 1
        else:
            waiting += 1
    # A cgroup can be removed once every process in it is collected, which may take a later call.
    if groups_pending():
        waiting += 1
    return killed, waiting


def _pids_groups(pid: int) -> list[str]:
    """The `dynlan-*` pids cgroup folders process `pid` is in (none where it joined none)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        name = os.path.basename(path)
        if not name.startswith("dynlan-"):
            continue
        root = _PIDS_ROOTS[0] if "pids" in controllers.split(",") else _PIDS_ROOTS[1]
        found.append(os.path.join(root, path.lstrip("/")))
    return found
