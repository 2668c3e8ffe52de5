"""The server layer: the only place that does socket I/O (trio)."""

from __future__ import annotations

from dynlan.server._access import AccessLog
from dynlan.server._serve import ListenError, Server, bind_socket

__all__ = ["AccessLog", "ListenError", "Server", "bind_socket"]
