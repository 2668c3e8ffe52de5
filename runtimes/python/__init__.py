"""Python pages (`.py`): a module with `handle(request, response)`, sync or async."""

from __future__ import annotations

from typing import Any

__all__ = ["make_runtime"]


def make_runtime() -> Any:
    """Entry point of the `dynlan.runtimes` group."""
    from dynlan.runtimes.python._runtime import PythonRuntime

    return PythonRuntime()
