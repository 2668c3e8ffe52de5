"""Running page code out of process: launching, limiting and supervising worker processes."""

from __future__ import annotations

from dynlan.sandboxes._pool import PoolError, ProcessPool, Worker
from dynlan.sandboxes._process import Limits, cpu_seconds, kill_group, spawn

__all__ = ["Limits", "PoolError", "ProcessPool", "Worker", "cpu_seconds", "kill_group", "spawn"]
