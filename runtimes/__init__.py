"""Runtime adapters: one per page language, found through the `dynlan.runtimes` entry points.

The names below are loaded on first use, so that importing one runtime's own
modules (`dynlan wren FILE` loads only the Wren VM) does not load the registry,
the entry points and the adapter interface.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynlan.runtimes._interface import Availability, Runtime, RuntimeConfig, check_site_options
    from dynlan.runtimes._registry import ENTRY_POINT_GROUP, Registry, registry

__all__ = [
    "ENTRY_POINT_GROUP", "Availability", "Registry", "Runtime", "RuntimeConfig", "check_site_options", "registry",
]

_HOMES = {
    "Availability": "_interface", "Runtime": "_interface", "RuntimeConfig": "_interface",
    "check_site_options": "_interface",
    "ENTRY_POINT_GROUP": "_registry", "Registry": "_registry", "registry": "_registry",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
