"""The PHP runtime's configuration: strict, and the settings that keep path info safe stay DynLan's."""

from __future__ import annotations

import pytest

from dynlan.config import ConfigError, LimitsConfig
from dynlan.runtimes import RuntimeConfig
from dynlan.runtimes.php._runtime import PhpRuntime


def configure(options: dict[str, object]) -> PhpRuntime:
    runtime = PhpRuntime()
    runtime.configure(RuntimeConfig(dict(options), LimitsConfig(), False))
    return runtime


def test_options_are_taken() -> None:
    runtime = configure({"processes": 3, "max_requests": 9, "ini": {"date.timezone": "UTC", "precision": 10}})
    assert (runtime.processes, runtime.max_requests) == (3, 9)
    assert runtime.ini == {"date.timezone": "UTC", "precision": "10"}
    assert runtime.path_info


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"ini": {"cgi.fix_pathinfo": "0"}}, "php.ini.cgi.fix_pathinfo"),  # PHP would run PATH_TRANSLATED
        ({"ini": {"cgi.discard_path": "1"}}, "php.ini.cgi.discard_path"),
        ({"processes": 0}, "php.processes"),
        ({"threads": 2}, "php.threads"),
    ],
)
def test_bad_options_name_their_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        configure(options)
