"""The PHP runtime's configuration: strict, and the settings that keep path info safe stay DynLan's."""

from __future__ import annotations

import pytest

from dynlan.config import ConfigError, LimitsConfig
from dynlan.host import PageError
from dynlan.runtimes import RuntimeConfig
from dynlan.runtimes.php._runtime import PRELUDE, PhpRuntime, confinement_ini


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


def test_idle_timeout_and_exec_sites_are_taken() -> None:
    runtime = configure({"idle_timeout": 0.5, "exec_sites": ["X.test"]})
    assert runtime.idle_timeout == 0.5 and runtime.exec_sites == frozenset({"x.test"})


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"idle_timeout": 0}, "php.idle_timeout"),
        ({"idle_timeout": True}, "php.idle_timeout"),
        ({"exec_sites": "x.test"}, "php.exec_sites"),
    ],
)
def test_bad_pool_options_name_their_key(options: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        configure(options)


def test_open_basedir_is_the_site_its_private_folder_and_the_prelude() -> None:
    ini = confinement_ini("/srv/sites/a.test", "/run/dynlan/site-1/private", allow_exec=False)
    # Each folder ends with a separator: open_basedir matches prefixes, so a bare `/srv/sites/a.test`
    # would let a.test into /srv/sites/a.test2.
    assert ini["open_basedir"].split(":") == ["/srv/sites/a.test/", "/run/dynlan/site-1/private/", PRELUDE]
    assert ini["session.save_path"].startswith("/run/dynlan/site-1/private/")
    assert ini["upload_tmp_dir"].startswith("/run/dynlan/site-1/private/")
    assert ini["sys_temp_dir"] == "/run/dynlan/site-1/private"
    assert ini["ffi.enable"] == "0" and ini["enable_dl"] == "0"


@pytest.mark.parametrize("root", ["/srv/x:/", "/srv/x\nopen_basedir=/", '/srv/x"'])
def test_a_path_that_would_widen_the_settings_is_refused(root: str) -> None:
    # open_basedir is split at ':': a site folder `/srv/x:/` would open the whole disk; php-cgi reads each
    # -d as a line of ini text, so a newline in a path would start a setting of its own.
    with pytest.raises(PageError, match="cannot be confined"):
        confinement_ini(root, "/run/dynlan/site-1/private", allow_exec=False)


def test_process_functions_are_disabled_unless_exec_is_allowed() -> None:
    closed = set(confinement_ini("/srv/a", "/tmp/p", allow_exec=False)["disable_functions"].split(","))
    assert {"exec", "system", "shell_exec", "passthru", "popen", "proc_open", "pcntl_exec", "pcntl_fork", "mail",
            "putenv", "dl", "posix_kill", "posix_setrlimit"} <= closed
    opened = set(confinement_ini("/srv/a", "/tmp/p", allow_exec=True)["disable_functions"].split(","))
    assert "exec" not in opened and "proc_open" not in opened and "dl" in opened
