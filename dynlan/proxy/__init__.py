"""Reverse proxy and load balancing: the `proxy` handler of site rules (docs/proxy.md)."""

from __future__ import annotations

from dynlan.proxy._config import POLICIES, HealthCheck, ProxySpec, Timeouts, Upstream, parse_proxy
from dynlan.proxy._headers import peer_trusted
from dynlan.proxy._path import upstream_target
from dynlan.proxy._pool import Origin, Pools
from dynlan.proxy._service import ProxyService

__all__ = [
    "POLICIES",
    "HealthCheck",
    "Origin",
    "Pools",
    "ProxyService",
    "ProxySpec",
    "Timeouts",
    "Upstream",
    "parse_proxy",
    "peer_trusted",
    "upstream_target",
]
