"""The runtime registry: runtimes keyed by file suffix, from the `dynlan.runtimes` entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from dynlan.runtimes._interface import Availability, Runtime

log = logging.getLogger("dynlan")

ENTRY_POINT_GROUP = "dynlan.runtimes"
RUNTIME_MEMBERS = ("name", "suffixes", "site_keys", "available", "configure", "site_options", "start", "begin",
                   "aclose", "statistics")
"""What `Runtime` declares: a runtime without one of them is not registered."""


class Registry:
    def __init__(self) -> None:
        self._runtimes: dict[str, Runtime] = {}
        self._broken: dict[str, str] = {}

    def add(self, runtime: Runtime) -> None:
        missing = [member for member in RUNTIME_MEMBERS if not hasattr(runtime, member)]
        if missing:
            # An adapter written before `site_keys`/`site_options` would leave a site's table unchecked.
            raise ValueError(f"runtime {getattr(runtime, 'name', runtime)!r} does not implement the runtime "
                             f"interface: no {', '.join(missing)}")
        if runtime.name in self._runtimes:
            raise ValueError(f"runtime '{runtime.name}' registered twice")
        self._runtimes[runtime.name] = runtime

    def load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._runtimes or ep.name in self._broken:
                continue
            try:
                factory = ep.load()
                runtime = factory()
                self.add(runtime)
            except Exception as exc:  # a broken plugin must not stop the server
                self._broken[ep.name] = f"failed to load {ep.value}: {exc}"

    def names(self) -> list[str]:
        return [*self._runtimes, *self._broken]

    def get(self, name: str) -> Runtime | None:
        return self._runtimes.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._runtimes.values())

    def available(self) -> list[Runtime]:
        return [r for r in self._runtimes.values() if r.available().ok]

    def by_suffix(self) -> dict[str, Runtime]:
        """Suffix -> runtime, for the runtimes that can run; a suffix claimed twice is an error."""
        out: dict[str, Runtime] = {}
        for runtime in self.available():
            for suffix in runtime.suffixes:
                if suffix in out:
                    raise ValueError(f"suffix {suffix} claimed by runtimes '{out[suffix].name}' and '{runtime.name}'")
                out[suffix] = runtime
        return out

    def describe(self) -> list[tuple[str, tuple[str, ...], str, str]]:
        rows = []
        for runtime in self._runtimes.values():
            a: Availability = runtime.available()
            rows.append((runtime.name, runtime.suffixes, a.version or "-", str(a)))
        for name, reason in self._broken.items():
            rows.append((name, (), "-", f"unavailable: {reason}"))
        return rows


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, filled from entry points on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
        _REGISTRY.load_entry_points()
    return _REGISTRY
