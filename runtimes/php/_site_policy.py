"""What a site's `[php]` table may set: ini settings that do not widen its confinement, and `allow_exec`
where the server config grants it.

A site's `dynlan.toml` is written by the site, so it is not trusted. Its ini settings reach php-cgi as
`-d key=value` arguments, next to the ones that confine the site (open_basedir, disabled functions, the
private temporary folders) and the budgets DynLan derives from `[limits]`: those stay DynLan's and the
server's.
"""

from __future__ import annotations

import re
from typing import Any

from dynlan.config import ConfigError
from dynlan.runtimes._interface import check_site_options

SITE_KEYS = frozenset({"ini", "allow_exec"})
SERVER_KEYS = ("processes", "max_requests", "idle_timeout", "exec_sites", "user", "binary")

DENIED_INI = frozenset({
    # The host API prelude, and code of the site's choosing run before or after every page.
    "auto_prepend_file", "auto_append_file",
    # The confinement: the site's own folder, no process spawning, no loading of native code.
    "open_basedir", "disable_functions", "disable_classes", "enable_dl", "extension", "zend_extension",
    "extension_dir", "allow_url_include", "sqlite3.extension_dir",
    # Files written or read where open_basedir does not look (set at start-up, before it applies):
    # the log of another site, a sessions folder shared with another site, a whole-file read.
    "error_log", "mail.log", "session.save_path", "session.save_handler", "upload_tmp_dir", "sys_temp_dir",
    "soap.wsdl_cache_dir", "browscap", "mysqli.allow_local_infile", "mysqli.local_infile_directory",
    # A shell command mail() runs.
    "sendmail_path",
    # How php-cgi finds the script (PATH_TRANSLATED guessing: the nginx/PHP upload attack).
    "doc_root", "user_dir",
    # Budgets DynLan derives from the site's [limits] and [http] max_body_size (a site lowers those).
    "memory_limit", "max_execution_time", "post_max_size", "upload_max_filesize",
})
"""ini settings a site cannot set: DynLan's confinement and budgets (see docs/config.md)."""
DENIED_INI_PREFIXES = ("cgi.", "fastcgi.", "ffi.", "opcache.", "user_ini.")
"""Families of settings a site cannot set: CGI script resolution, FFI (any C function), opcache (its file
cache and preloading run or write outside the site), `.user.ini` lookup."""
BUDGET_INI = {"memory_limit": "[limits] memory", "max_execution_time": "[limits] wall_time",
              "post_max_size": "[http] max_body_size", "upload_max_filesize": "[http] max_body_size"}

INI_KEY = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
UNSAFE_VALUE = re.compile(r'[\x00-\x1f\x7f"]')
"""php-cgi turns `-d key=value` into a line of ini text: a newline in a value would start another setting
(`x\nopen_basedir=/`), a double quote would end the quoting php-cgi puts around some values."""


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def php_site_options(server: dict[str, Any], site: dict[str, Any], source: str, site_name: str) -> dict[str, Any]:
    """`PhpRuntime.site_options`: the server's `[php]` with the site's ini and `allow_exec` on top."""
    merged = check_site_options("php", SITE_KEYS, server, site, source, server_keys=SERVER_KEYS)
    allow_exec = site.get("allow_exec", False)
    if not isinstance(allow_exec, bool):
        raise ConfigError(f"{source}: [php] allow_exec: expected true or false, got {allow_exec!r}")
    exec_sites = server.get("exec_sites", [])
    if allow_exec and not (isinstance(exec_sites, list) and site_name in (str(s).lower() for s in exec_sites)):
        # Process spawning is the operator's to grant: a site that could enable it itself would run
        # programs as the server's user, outside open_basedir.
        raise ConfigError(f"{source}: [php] allow_exec = true needs the server config's [php] exec_sites "
                          f"to name '{site_name}'")
    ini = site.get("ini", {})
    if not isinstance(ini, dict):
        raise ConfigError(f"{source}: [php] ini: expected a table of ini settings, got {ini!r}")
    server_ini = server.get("ini", {})
    server_ini = server_ini if isinstance(server_ini, dict) else {}
    checked: dict[str, str] = {}
    for key, value in ini.items():
        where = f"{source}: [php] ini.{key}"
        if not INI_KEY.fullmatch(key):
            raise ConfigError(f"{where}: not an ini setting name")
        name = key.lower()
        if name in BUDGET_INI:
            raise ConfigError(f"{where} is DynLan's, from the site's budget; set {BUDGET_INI[name]} instead")
        if name in DENIED_INI or name.startswith(DENIED_INI_PREFIXES):
            raise ConfigError(f"{where} is DynLan's (it confines the site); a site cannot set it")
        if key in server_ini:
            raise ConfigError(f"{where} is set by the server config; a site cannot change it")
        if isinstance(value, dict | list) or UNSAFE_VALUE.search(_ini_value(value)):
            raise ConfigError(f"{where}: expected a single-line value without '\"', got {value!r}")
        checked[key] = _ini_value(value)
    merged["ini"] = {**{str(k): str(v) for k, v in server_ini.items()}, **checked}
    merged["allow_exec"] = allow_exec
    return merged
