"""Jinja pages (`.jinja`): a template of the site is a page, rendered with `request` (docs/templates.md)."""

from __future__ import annotations

from typing import Any

__all__ = ["make_runtime"]


def make_runtime() -> Any:
    """Entry point of the `dynlan.runtimes` group."""
    from dynlan.runtimes.jinja._runtime import JinjaRuntime

    return JinjaRuntime()
