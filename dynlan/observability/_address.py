"""The admin listener's address, checked where the config is read."""

from __future__ import annotations

import ipaddress

from dynlan.config import ConfigError


def admin_address(listen: str, token: str, where: str) -> tuple[str, int]:
    """(host, port) of `[admin] listen`; a ConfigError when it is malformed, or off loopback without a token."""
    host, sep, port_text = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{where}: expected HOST:PORT (127.0.0.1:9180), got {listen!r}")
    if not is_loopback(host) and not token:
        raise ConfigError(f"{where}: {host} is not a loopback address: set admin.token, which every request "
                          "must then carry (Authorization: Bearer TOKEN)")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
