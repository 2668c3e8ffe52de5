"""Shared test set-up: async tests run on trio (with an autojump clock when marked)."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pytest
import trio
import trio.testing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "autojump: run the async test with trio's autojump MockClock")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    argnames = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in argnames}
    clock = None
    if pyfuncitem.get_closest_marker("autojump") is not None:
        clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(functools.partial(fn, **kwargs), clock=clock)
    return True
