"""Confining a process to its site's files with Landlock (Linux 5.13+), and dropping root's capabilities.

`confine()` is called by a sandbox worker before it runs any page code; what it sets is inherited by
every process forked or executed below it and cannot be undone by them:

- no new privileges (a setuid program started by a page runs with the page's rights);
- files: read (and execute) only the system's programs and libraries (`/usr`, `/lib*`, `/bin`, `/sbin`,
  `/etc`), the Python installation and the folders of the packages the worker imported, `/proc` (which
  Landlock itself limits: another domain's `/proc/<pid>/mem`, `fd` and `environ` stay closed) and the
  site's own folder; write only the site's folder, its private temporary folder and `/dev/null`. Another
  site's folder, the server's config and certificates, and every other folder of the machine stay out
  of reach, through symbolic links too (Landlock checks the file a path resolves to);
- TCP (ABI 4+): no `bind`, and `connect` only to the ports the operator lists, so a page cannot talk
  to the cache's Redis, the server's own listeners or another site's services behind the host's back;
- scopes (ABI 6+): no signal to, and no abstract unix socket of, a process outside the domain (the
  server, other sites' workers);
- as root: every capability dropped (from the bounding set too, so a program a page executes does not
  get them back), so root's file rights are only those of the files' owner and `mount`, modules,
  `ptrace` of others and raw sockets are refused.

A page may write inside its own site (as PHP pages can: a site's data files are its own) and its
private temporary folder (`TMPDIR`), nowhere else.

A kernel without Landlock (or with it disabled) makes `confine()` raise `Unconfined`: the worker does
not run pages unconfined.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Iterable

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
"""The same numbers on every architecture (the generic syscall table)."""
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAPBSET_DROP = 24
_CAP_VERSION_3 = 0x20080522

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

READ = READ_FILE | READ_DIR
READ_EXEC = READ | EXECUTE
WRITE = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SYM | MAKE_FIFO | MAKE_SOCK
         | REFER | TRUNCATE)
FILE_ACCESS = READ_FILE | WRITE_FILE | EXECUTE | TRUNCATE | IOCTL_DEV
"""The rights that apply to a file (a rule on a file, not a folder, may only name these)."""

SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class Unconfined(OSError):
    """The kernel cannot confine this process (no Landlock)."""


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = int(_libc.syscall(ctypes.c_long(number), *args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 without Landlock."""
    try:
        return _syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def _handled_fs(abi: int) -> int:
    access = (1 << 13) - 1
    if abi >= 2:
        access |= REFER
    if abi >= 3:
        access |= TRUNCATE
    if abi >= 5:
        access |= IOCTL_DEV
    return access


def _ancestor(path: str, of: str) -> bool:
    return of == path or of.startswith(path.rstrip("/") + "/")


def readable_paths(site: str, extra: Iterable[str] = ()) -> list[str]:
    """What a confined process may read: the system, Python and its packages, and the site.

    A folder that holds the site (a Python installation or package folder that sites were put inside,
    say) is never granted whole: its other entries are, the branch that leads to the site is split
    further, and the folder that holds the site itself gives nothing but the site, so a sibling site
    never becomes readable through it.
    """
    site = os.path.realpath(site)
    wanted = [*SYSTEM, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path, *extra]
    for module in list(sys.modules.values()):
        for folder in getattr(module, "__path__", None) or ():
            wanted.append(folder)
    out: list[str] = []
    seen: set[str] = set()
    for entry in wanted:
        if not entry or not os.path.exists(entry):
            continue
        real = os.path.realpath(entry)
        for path in _split_around(real, site):
            if path not in seen:
                seen.add(path)
                out.append(path)
    return out


def _split_around(path: str, site: str) -> list[str]:
    if not os.path.isdir(path) or not _ancestor(path, site):
        return [path]
    if path == site or os.path.dirname(site) == path:
        return []  # the site is granted on its own; its parent holds the other sites
    out: list[str] = []
    for name in sorted(os.listdir(path)):
        child = os.path.join(path, name)
        out.extend(_split_around(child, site) if _ancestor(child, site) else [child])
    return out


def _add_path(ruleset: int, path: str, access: int, handled: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            access &= FILE_ACCESS
        attr = struct.pack("=Qi", access & handled, fd)
        _syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.c_char_p(attr),
                 ctypes.c_uint32(0))
    finally:
        os.close(fd)


def _drop_capabilities() -> None:
    """As root: empty the bounding set, then the process's own sets."""
    if os.geteuid() != 0:
        return
    cap = 0
    while _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    header = struct.pack("=Ii", _CAP_VERSION_3, 0)
    data = bytes(24)  # two (effective, permitted, inheritable) sets of 32 bits, all empty
    if _libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def confine(site: str, private: str | None = None, connect_ports: Iterable[int] = ()) -> int:
    """Confine this process (and all it starts) to `site`; the Landlock ABI used. Raises `Unconfined`."""
    abi = abi_version()
    if abi < 1:
        raise Unconfined("this kernel has no Landlock: sandboxed pages cannot be confined to their site")
    handled = _handled_fs(abi)
    attr = struct.pack("=Q", handled)
    if abi >= 4:
        attr += struct.pack("=Q", NET_BIND_TCP | NET_CONNECT_TCP)
    if abi >= 6:
        attr += struct.pack("=Q", SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    ruleset = _syscall(_SYS_CREATE_RULESET, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    try:
        for path in readable_paths(site):
            _add_path(ruleset, path, READ_EXEC, handled)
        _add_path(ruleset, os.path.realpath(site), READ | WRITE, handled)
        if os.path.isdir("/proc"):
            _add_path(ruleset, "/proc", READ, handled)
        for device in DEVICES:
            _add_path(ruleset, device, READ_FILE | WRITE_FILE, handled)
        if private:
            _add_path(ruleset, os.path.realpath(private), READ | WRITE, handled)
        if abi >= 4:
            for port in connect_ports:
                rule = struct.pack("=QQ", NET_CONNECT_TCP, int(port))
                _syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_NET_PORT), ctypes.c_char_p(rule),
                         ctypes.c_uint32(0))
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"no_new_privs: {os.strerror(err)}")
        _drop_capabilities()
        _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return abi


__all__ = ["Unconfined", "abi_version", "confine", "readable_paths"]
