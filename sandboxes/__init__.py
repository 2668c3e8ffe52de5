"""Running page code out of process: launching, limiting and supervising worker processes."""

from __future__ import annotations

from dynlan.sandboxes._pool import PoolError, ProcessPool, Worker
from dynlan.sandboxes._process import (
    Limits,
    become_subreaper,
    cpu_seconds,
    descendants,
    forget,
    kill_descendants,
    kill_group,
    kill_orphans,
    kill_strays,
    private_folder,
    remove_private_folders,
    spawn,
)

__all__ = [
    "Limits",
    "PoolError",
    "ProcessPool",
    "Worker",
    "become_subreaper",
    "cpu_seconds",
    "descendants",
    "forget",
    "kill_descendants",
    "kill_group",
    "kill_orphans",
    "kill_strays",
    "private_folder",
    "remove_private_folders",
    "spawn",
]
