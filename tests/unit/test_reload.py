"""What a reload keeps at its running value: settings that need a restart (no I/O)."""

from __future__ import annotations

import pytest

from dynlan.app._reload import RESTART_ONLY, keep_restart_settings
from dynlan.config import Config, ConfigError, LimitsConfig
from dynlan.runtimes import Registry, RuntimeConfig, registry


def test_nothing_changed_keeps_nothing() -> None:
    assert keep_restart_settings(Config(), Config(), frozenset()) == []


@pytest.mark.parametrize("path", RESTART_ONLY, ids=".".join)
def test_each_restart_setting_keeps_its_running_value(path: tuple[str, ...]) -> None:
    old, new = Config(), Config()
    holder = new
    for name in path[:-1]:
        holder = getattr(holder, name)
    value = getattr(holder, path[-1])
    changed: object = not value if isinstance(value, bool) else value * 2 + 1 if isinstance(value, int | float) \
        else value + "x"
    setattr(holder, path[-1], changed)
    assert ".".join(path) in keep_restart_settings(old, new, frozenset())
    assert getattr(holder, path[-1]) == value


def test_reloadable_settings_take_their_new_value() -> None:
    old, new = Config(), Config()
    new.server.grace_period = 3.0
    new.server.max_connections = 10
    new.http.header_timeout = 1.0
    new.limits.wall_time = 2.0
    new.compression.min_size = 4096
    new.tls.hsts_max_age = 60
    assert keep_restart_settings(old, new, frozenset()) == []
    assert (new.server.grace_period, new.server.max_connections, new.http.header_timeout, new.limits.wall_time,
            new.compression.min_size, new.tls.hsts_max_age) == (3.0, 10, 1.0, 2.0, 4096, 60)


def test_tls_on_or_off_keeps_the_whole_section() -> None:
    old, new = Config(), Config()
    new.tls.cert, new.tls.key = "/c.pem", "/k.pem"
    assert "tls" in keep_restart_settings(old, new, frozenset())
    assert new.tls == old.tls and not new.tls.enabled


def test_certificates_reload_while_tls_stays_on() -> None:
    old, new = Config(), Config()
    old.tls.cert, old.tls.key = "/a.pem", "/a.key"
    new.tls.cert, new.tls.key = "/b.pem", "/b.key"
    assert keep_restart_settings(old, new, frozenset()) == []
    assert new.tls.cert == "/b.pem"


def test_a_running_runtime_keeps_its_table_a_new_one_takes_it() -> None:
    old, new = Config(), Config()
    old.runtimes = {"lua": {"threads": 1}}
    new.runtimes = {"lua": {"threads": 2}, "wren": {"slice": 5000}}
    assert keep_restart_settings(old, new, frozenset({"lua"})) == ["[lua]"]
    assert new.runtimes == {"lua": {"threads": 1}, "wren": {"slice": 5000}}


def test_a_fresh_registry_checks_a_table_without_touching_the_running_runtime() -> None:
    from dynlan.app._reload import fresh_registry

    running = registry().get("lua")
    fresh: Registry = fresh_registry()
    checked = fresh.get("lua")
    assert running is not None and checked is not None and checked is not running
    with pytest.raises(ConfigError, match="lua.threads"):
        checked.configure(RuntimeConfig({"threads": 0}, LimitsConfig(), False))
