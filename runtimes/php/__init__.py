"""PHP pages (`.php`), run by a pool of php-cgi processes over FastCGI."""

from __future__ import annotations

from typing import Any

__all__ = ["make_runtime"]


def make_runtime() -> Any:
    """Entry point of the `dynlan.runtimes` group."""
    from dynlan.runtimes.php._runtime import PhpRuntime

    return PhpRuntime()
