"""Runtime adapters: one per page language, found through the `dynlan.runtimes` entry points."""

from __future__ import annotations

from dynlan.runtimes._interface import Availability, Runtime, RuntimeConfig, check_site_options
from dynlan.runtimes._registry import ENTRY_POINT_GROUP, Registry, registry

__all__ = [
    "ENTRY_POINT_GROUP", "Availability", "Registry", "Runtime", "RuntimeConfig", "check_site_options", "registry",
]
