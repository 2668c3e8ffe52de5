"""Configuration: strict files, a site's `dynlan.toml` that can only tighten the server's policy, runtime
tables checked by each runtime's `site_options()`, and cache namespaces granted by the server config."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from dynlan.app import App, discover_sites
from dynlan.config import SITE_RULES, Config, ConfigError, SiteConfig, load_config, site_config
from dynlan.http import Headers
from dynlan.runtimes import Registry, check_site_options, registry
from dynlan.runtimes.lua._runtime import LuaRuntime
from dynlan.runtimes.php._runtime import PhpRuntime
from dynlan.runtimes.python._runtime import PythonRuntime
from dynlan.runtimes.wren._runtime import WrenRuntime

RUNTIME_NAMES = frozenset({"lua", "wren", "python", "php", "template"})


def server(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "server.toml"
    path.write_text(text)
    return load_config(path, RUNTIME_NAMES)


def site(tmp_path: Path, base: Config, text: str, name: str = "a.test") -> SiteConfig:
    folder = tmp_path / "sites" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dynlan.toml").write_text(text)
    return site_config(base, folder / "dynlan.toml", RUNTIME_NAMES)


def refused(tmp_path: Path, base: Config, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        site(tmp_path, base, text)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "sites" / "a.test" / "dynlan.toml") + ": "), message
    assert "\n" not in message
    return message


# -- the server's file ---------------------------------------------------------------------------------


def test_unknown_keys_and_wrong_types_name_their_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'limits\.walltime'"):
        server(tmp_path, "[limits]\nwalltime = 3\n")
    with pytest.raises(ConfigError, match=r"limits\.memory: expected an integer"):
        server(tmp_path, "[limits]\nmemory = '1G'\n")
    with pytest.raises(ConfigError, match=r"unknown key 'nope'"):
        server(tmp_path, "[nope]\nx = 1\n")


@pytest.mark.parametrize("key", [f.name for f in dataclasses.fields(Config().limits)])
def test_a_budget_of_zero_or_less_is_an_error(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"limits\.{key}: must be more than 0, got 0"):
        server(tmp_path, f"[limits]\n{key} = 0\n")


@pytest.mark.parametrize("name", ["../b.test/index.html", "_secret.txt", ".env", "dynlan.toml", "a/index.html", ""])
def test_index_names_are_public_files_of_the_folder(tmp_path: Path, name: str) -> None:
    # `index_names = ["_secret.txt"]` would serve what static files never serve.
    with pytest.raises(ConfigError, match=r"static\.index_names\[1\]"):
        server(tmp_path, f'[static]\nindex_names = ["index.html", "{name}"]\n')
    base = Config()
    assert "static.index_names[0]" in refused(tmp_path, base, f'[static]\nindex_names = ["{name}"]\n')


def test_the_server_sets_everything(tmp_path: Path) -> None:
    cfg = server(tmp_path, "[limits]\nwall_time = 600\n\n[http]\nkeepalive_timeout = 1.5\n\n[lua]\nthreads = 8\n")
    assert cfg.limits.wall_time == 600.0 and cfg.http.keepalive_timeout == 1.5
    assert cfg.runtimes == {"lua": {"threads": 8}}


# -- a site's file: only tighter ----------------------------------------------------------------------


def test_every_site_section_key_has_a_rule() -> None:
    # A field added without a rule would be a server setting; this keeps the table (and docs) complete.
    base = Config()
    for section, rules in SITE_RULES.items():
        assert set(rules) == {f.name for f in dataclasses.fields(getattr(base, section))}, section
    sections = {f.name for f in dataclasses.fields(SiteConfig)} - {"runtimes", "routes", "rate_limit", "rules"}
    assert set(SITE_RULES) == sections


@pytest.mark.parametrize(
    ("key", "above", "server_value"),
    [("wall_time", "600", "10"), ("instructions", "200000001", "200000000"),
     ("memory", "1073741824", "67108864"), ("output_size", "67108865", "67108864")],
)
def test_a_site_cannot_raise_a_limit(tmp_path: Path, key: str, above: str, server_value: str) -> None:
    message = refused(tmp_path, Config(), f"[limits]\n{key} = {above}\n")
    assert message.endswith(f"limits.{key} = {above} is above the server's {server_value}; a site can only lower it")


def test_a_site_may_lower_its_limits(tmp_path: Path) -> None:
    base = server(tmp_path, "[limits]\nwall_time = 30\nmemory = 134217728\n")
    cfg = site(tmp_path, base, "[limits]\nwall_time = 2\nmemory = 134217728\ninstructions = 1000\n")
    assert (cfg.limits.wall_time, cfg.limits.memory, cfg.limits.instructions) == (2.0, 134217728, 1000)
    assert base.limits.wall_time == 30.0  # the server's own are untouched
    assert "limits.wall_time = 31 is above the server's 30" in refused(tmp_path, base, "[limits]\nwall_time = 31\n")
    assert "limits.memory: must be more than 0" in refused(tmp_path, base, "[limits]\nmemory = -1\n")


def test_the_request_body_size_only_lower(tmp_path: Path) -> None:
    assert site(tmp_path, Config(), "[http]\nmax_body_size = 1024\n").http.max_body_size == 1024
    message = refused(tmp_path, Config(), "[http]\nmax_body_size = 10485761\n")
    assert "http.max_body_size = 10485761 is above the server's 10485760" in message


@pytest.mark.parametrize(
    "line",
    ["keepalive_timeout = 600", "header_timeout = 1", "max_header_size = 1", "http2 = false", "h1_parser = 'h11'",
     "h2_max_concurrent_streams = 1000", "http3 = true"],
)
def test_connection_settings_are_the_servers(tmp_path: Path, line: str) -> None:
    # They apply before a request names its site: a site's value would be silently ignored (or loosen).
    key = line.split(" ")[0]
    message = refused(tmp_path, Config(), f"[http]\n{line}\n")
    assert message.endswith(f"http.{key} is a server setting; set it in the server config")


@pytest.mark.parametrize(
    ("server_text", "site_text", "expected"),
    [
        ("[compression]\nenabled = false\n", "[compression]\nenabled = true\n",
         "compression.enabled = true, but the server's is false; a site can only turn it off"),
        ("", "[compression]\nmin_size = 10\n", "compression.min_size = 10 is below the server's 1024"),
        ("", "[compression]\nmax_size = 1073741824\n", "compression.max_size = 1073741824 is above the server's 8388608"),
    ],
)
def test_compression_only_less(tmp_path: Path, server_text: str, site_text: str, expected: str) -> None:
    assert expected in refused(tmp_path, server(tmp_path, server_text), site_text)


def test_compression_and_static_settings_a_site_may_make(tmp_path: Path) -> None:
    cfg = site(tmp_path, Config(), "[compression]\nenabled = false\nmin_size = 4096\nmax_size = 1024\n"
                                   "precompressed = false\n\n[static]\nlisting = true\nclean_urls = false\n"
                                   'index_names = ["home.html"]\n')
    assert not cfg.compression.enabled and cfg.compression.min_size == 4096 and cfg.compression.max_size == 1024
    assert cfg.static.listing and not cfg.static.clean_urls and cfg.static.index_names == ["home.html"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [("[server]\nworkers = 8\n", "[server]"), ("[cache]\nmax_bytes = 1\n", "[cache]"),
     ("[cache.share]\nx = ['a.test', 'b.test']\n", "[cache]"), ("[tls]\ncert = 'x'\n", "[tls]"),
     ("dev = true\n", "dev")],
)
def test_server_sections_are_refused_in_a_site(tmp_path: Path, text: str, shown: str) -> None:
    assert refused(tmp_path, Config(), text).endswith(f"{shown} is a server setting; set it in the server config (--config)")


def test_a_typo_in_a_site_names_file_and_key(tmp_path: Path) -> None:
    assert "unknown key 'static.listin'" in refused(tmp_path, Config(), "[static]\nlistin = true\n")


def test_site_runtime_tables_are_kept_as_written(tmp_path: Path) -> None:
    base = server(tmp_path, '[python]\nsandbox = "none"\nworkers = 3\n')
    cfg = site(tmp_path, base, '[python]\nsandbox = "process"\n')
    # Only the site's own table: the runtime's site_options() merges it with the server's.
    assert cfg.runtimes == {"python": {"sandbox": "process"}}


# -- runtime tables: site_options() ----------------------------------------------------------------------

SOURCE = "sites/a.test/dynlan.toml"


def test_the_shared_check_refuses_unknown_and_server_keys_and_merges() -> None:
    merged = check_site_options("demo", {"colour"}, {"colour": "red", "size": 2}, {"colour": "blue"}, SOURCE)
    assert merged == {"colour": "blue", "size": 2}
    with pytest.raises(ConfigError, match=r"^sites/a\.test/dynlan\.toml: \[demo\] size is a server setting; "):
        check_site_options("demo", {"colour"}, {"size": 2}, {"size": 3}, SOURCE)
    with pytest.raises(ConfigError, match=r"\[demo\] depth is a server setting"):
        check_site_options("demo", {"colour"}, {}, {"depth": 3}, SOURCE, server_keys=("depth",))
    with pytest.raises(ConfigError, match=r"^sites/a\.test/dynlan\.toml: unknown key 'demo\.colr'$"):
        check_site_options("demo", {"colour"}, {}, {"colr": "x"}, SOURCE)


@pytest.mark.parametrize(("runtime", "key"), [(LuaRuntime(), "threads"), (LuaRuntime(), "engine"),
                                               (LuaRuntime(), "slice"), (WrenRuntime(), "slice")])
def test_lua_and_wren_tables_are_the_servers(runtime: Any, key: str) -> None:
    assert runtime.site_keys == frozenset()
    with pytest.raises(ConfigError, match=rf"\[{runtime.name}\] {key} is a server setting; set it in the server config"):
        runtime.site_options({}, {key: 8}, SOURCE, "a.test")
    with pytest.raises(ConfigError, match=rf"unknown key '{runtime.name}\.colour'"):
        runtime.site_options({}, {"colour": 8}, SOURCE, "a.test")
    assert runtime.site_options({key: 2}, {}, SOURCE, "a.test") == {key: 2}


@pytest.mark.parametrize(
    ("server_mode", "site_mode", "ok"),
    [(None, "none", True), (None, "process", True), ("none", "process", True), ("process", "process", True),
     ("process", "none", False)],
)
def test_a_site_can_only_tighten_the_python_sandbox(server_mode: str | None, site_mode: str, ok: bool) -> None:
    server_table = {} if server_mode is None else {"sandbox": server_mode, "workers": 2}
    runtime = PythonRuntime()
    if ok:
        assert runtime.site_options(server_table, {"sandbox": site_mode}, SOURCE, "a.test")["sandbox"] == site_mode
    else:
        with pytest.raises(ConfigError, match=r'\[python\] sandbox = "none" is less strict than the server\'s '
                                              r'"process"; a site can only tighten it'):
            runtime.site_options(server_table, {"sandbox": site_mode}, SOURCE, "a.test")


def test_python_server_keys_and_bad_values() -> None:
    runtime = PythonRuntime()
    for key in ("workers", "cpu_seconds", "address_space"):
        with pytest.raises(ConfigError, match=rf"\[python\] {key} is a server setting"):
            runtime.site_options({}, {key: 100}, SOURCE, "a.test")
    with pytest.raises(ConfigError, match=r"\[python\] sandbox: must be 'none' or 'process'"):
        runtime.site_options({}, {"sandbox": "off"}, SOURCE, "a.test")


PHP_SERVER = {"processes": 2, "exec_sites": ["X.test"], "ini": {"date.timezone": "UTC", "allow_url_fopen": "0"}}


def php(site_table: dict[str, Any], name: str = "a.test") -> dict[str, Any]:
    merged: dict[str, Any] = PhpRuntime().site_options(dict(PHP_SERVER), site_table, SOURCE, name)
    return merged


def test_php_site_ini_is_merged_over_the_servers() -> None:
    merged = php({"ini": {"precision": 10, "display_errors": True, "session.name": "SID"}})
    assert merged["ini"] == {"date.timezone": "UTC", "allow_url_fopen": "0", "precision": "10",
                             "display_errors": "1", "session.name": "SID"}
    assert merged["allow_exec"] is False and merged["processes"] == 2
    assert php({})["ini"] == {"date.timezone": "UTC", "allow_url_fopen": "0"}


@pytest.mark.parametrize(
    "key",
    ["open_basedir", "disable_functions", "disable_classes", "auto_prepend_file", "auto_append_file",
     "cgi.fix_pathinfo", "cgi.discard_path", "cgi.force_redirect", "fastcgi.impersonate", "session.save_path",
     "session.save_handler", "upload_tmp_dir", "sys_temp_dir", "extension", "zend_extension", "extension_dir",
     "enable_dl", "ffi.enable", "opcache.file_cache", "opcache.preload", "user_ini.filename", "sendmail_path",
     "error_log", "allow_url_include", "doc_root", "Open_Basedir"],
)
def test_php_ini_that_confines_the_site_is_dynlans(key: str) -> None:
    with pytest.raises(ConfigError, match=r"\[php\] ini\..* is DynLan's \(it confines the site\); a site cannot set it"):
        php({"ini": {key: "/"}})


@pytest.mark.parametrize(
    ("key", "instead"),
    [("memory_limit", "[limits] memory"), ("max_execution_time", "[limits] wall_time"),
     ("post_max_size", "[http] max_body_size"), ("upload_max_filesize", "[http] max_body_size")],
)
def test_php_budgets_come_from_limits(key: str, instead: str) -> None:
    # `memory_limit = -1` would lift the budget; one knob per budget, and a site lowers it in [limits].
    with pytest.raises(ConfigError, match=re.escape(f"ini.{key} is DynLan's, from the site's budget; set {instead} instead")):
        php({"ini": {key: "1"}})


def test_php_ini_the_server_sets_stays() -> None:
    with pytest.raises(ConfigError, match=r"ini\.allow_url_fopen is set by the server config; a site cannot change it"):
        php({"ini": {"allow_url_fopen": "1"}})


@pytest.mark.parametrize(
    ("ini", "needle"),
    [
        # php-cgi turns `-d k=v` into a line of ini text: a newline would set open_basedir after all.
        ({"precision": "10\nopen_basedir=/"}, "single-line value"),
        ({"precision": '/x"\nopen_basedir=/'}, "single-line value"),
        ({"precision": {"a": 1}}, "single-line value"),
        # `-d disable_functions==` would be the key disable_functions with the value "=".
        ({"disable_functions=": ""}, "not an ini setting name"),
        ({"a b": "1"}, "not an ini setting name"),
    ],
)
def test_php_ini_cannot_smuggle_settings(ini: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        php({"ini": ini})


def test_php_allow_exec_only_where_the_server_grants_it() -> None:
    assert php({"allow_exec": True}, "x.test")["allow_exec"] is True
    with pytest.raises(ConfigError, match=r"\[php\] allow_exec = true needs the server config's \[php\] exec_sites "
                                          r"to name 'a\.test'"):
        php({"allow_exec": True})
    with pytest.raises(ConfigError, match=r"allow_exec: expected true or false"):
        php({"allow_exec": "yes"}, "x.test")
    for key in ("processes", "exec_sites", "user", "binary", "max_requests", "idle_timeout"):
        with pytest.raises(ConfigError, match=rf"\[php\] {key} is a server setting"):
            php({key: ["a.test"]})


def test_a_runtime_without_site_options_is_not_registered() -> None:
    class Old:
        name = "old"
        suffixes = (".old",)

        def available(self) -> Any: ...
        def configure(self, cfg: Any) -> None: ...
        async def start(self, host: Any) -> None: ...
        def begin(self, ctx: Any) -> None: ...
        async def aclose(self) -> None: ...
        def statistics(self) -> dict[str, int | float]:
            return {}

    with pytest.raises(ValueError, match=r"'old' does not implement the runtime interface: no site_keys, site_options"):
        Registry().add(Old())


def test_the_example_adapter_takes_a_content_type_per_site() -> None:
    from dynlan_template import TemplateRuntime

    runtime = TemplateRuntime()
    merged = runtime.site_options({"content_type": "text/plain"}, {"content_type": "text/html"}, SOURCE, "a.test")
    assert merged == {"content_type": "text/html"}
    with pytest.raises(ConfigError, match="one-line string"):
        runtime.site_options({}, {"content_type": "text/html\r\nSet-Cookie: x=1"}, SOURCE, "a.test")


# -- the app: each site's runtime options, at start-up ---------------------------------------------------------


def make_sites(tmp_path: Path, files: dict[str, dict[str, str]]) -> Path:
    root = tmp_path / "sites"
    for name, content in files.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for file, text in content.items():
            (root / name / file).write_text(text)
    return root


def test_prepare_gives_each_site_its_merged_options(tmp_path: Path) -> None:
    root = make_sites(tmp_path, {
        "a.test": {"hello.py": "def handle(q, r): r.write('a')\n", "dynlan.toml": '[python]\nsandbox = "process"\n'},
        "b.test": {"hello.py": "def handle(q, r): r.write('b')\n"},
    })
    cfg = server(tmp_path, '[python]\nsandbox = "none"\nworkers = 3\n')
    sites, _ = discover_sites(root, cfg, RUNTIME_NAMES)
    app = App(cfg, sites, sites["a.test"])
    app.prepare(registry())
    assert sites["a.test"].runtime_options["python"] == {"sandbox": "process", "workers": 3}
    assert sites["b.test"].runtime_options["python"] == {"sandbox": "none", "workers": 3}
    assert sites["b.test"].runtime_options["lua"] == {}


@pytest.mark.parametrize(
    ("text", "needle"),
    [('[lua]\nthreads = 8\n', "[lua] threads is a server setting"),
     ('[wren]\nslices = 1\n', "unknown key 'wren.slices'"),
     ('[php]\nini = { open_basedir = "/" }\n', "[php] ini.open_basedir is DynLan's")],
)
def test_prepare_refuses_a_sites_runtime_table_even_without_its_pages(tmp_path: Path, text: str, needle: str) -> None:
    root = make_sites(tmp_path, {"a.test": {"index.html": "a", "dynlan.toml": text}, "b.test": {"index.html": "b"}})
    cfg = Config()
    sites, _ = discover_sites(root, cfg, RUNTIME_NAMES)
    with pytest.raises(ConfigError) as info:
        App(cfg, sites, sites["a.test"]).prepare(registry())
    assert str(info.value).startswith(f"{root / 'a.test' / 'dynlan.toml'}: {needle}")


# -- cache namespaces ---------------------------------------------------------------------------------------------


def test_each_site_has_its_own_namespace_unless_the_server_shares_one(tmp_path: Path) -> None:
    root = make_sites(tmp_path, {name: {"index.html": name} for name in ("a.test", "b.test", "c.test")})
    cfg = server(tmp_path, '[cache.share]\nShop = ["A.test", "b.test"]\n')
    assert cfg.cache.share == {"shop": ["a.test", "b.test"]}
    sites, _ = discover_sites(root, cfg, RUNTIME_NAMES)
    assert {n: s.cache_namespace for n, s in sites.items()} == {"a.test": "shop", "b.test": "shop", "c.test": "c.test"}
    sites, _ = discover_sites(root, Config(), RUNTIME_NAMES)
    assert {n: s.cache_namespace for n, s in sites.items()} == {"a.test": "a.test", "b.test": "b.test",
                                                                 "c.test": "c.test"}


@pytest.mark.parametrize(
    ("text", "needle"),
    [('[cache.share]\nx = ["a.test"]\ny = ["b.test", "a.test"]\n', "site 'a.test' is in both 'x' and 'y'"),
     ('[cache.share]\nx = []\n', "cache.share.x: lists no site"),
     ('[cache.share]\n"x:y" = ["a.test"]\n', "a namespace name is letters"),
     ('[cache.share]\nx = "a.test"\n', "cache.share.x: expected a list"),
     ('[cache.share]\nx = [1]\n', r"cache.share.x[0]: expected str")],
)
def test_cache_share_is_checked(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        server(tmp_path, text)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [('[cache.share]\nshop = ["a.test", "d.test"]\n', "cache.share.shop: no site named 'd.test'"),
     # Named after a site, the shared namespace would be that site's own.
     ('[cache.share]\n"b.test" = ["a.test"]\n', "cache.share.b.test: 'b.test' is a site's own namespace")],
)
def test_cache_share_names_sites_that_exist(tmp_path: Path, text: str, needle: str) -> None:
    root = make_sites(tmp_path, {name: {"index.html": name} for name in ("a.test", "b.test")})
    with pytest.raises(ConfigError, match=re.escape(needle)):
        discover_sites(root, server(tmp_path, text), RUNTIME_NAMES)


# -- site rules, trusted proxies, symbolic links -------------------------------------------------------------------


async def test_a_sites_rules_come_before_the_servers_and_govern_that_site_only(tmp_path: Path) -> None:
    root = make_sites(tmp_path, {name: {"index.html": name} for name in ("a.test", "b.test")})
    (root / "a.test" / "dynlan.toml").write_text('[[route]]\npath = "/old/*"\nredirect = "/new/{path}"\n'
                                                 '[[route]]\npath = "/ping"\nrespond = { body = "a" }\n')
    cfg = server(tmp_path, '[[route]]\npath = "/ping"\nrespond = { body = "server" }\n'
                           '[[route]]\npath = "/*"\nheaders = { set = { "x-frame-options" = "DENY" } }\n')
    assert [r["path"] for r in cfg.routes] == ["/ping", "/*"] and len(cfg.rules) == 2
    sites, _ = discover_sites(root, cfg, RUNTIME_NAMES)
    a, b = sites["a.test"].config, sites["b.test"].config
    assert [r["path"] for r in a.routes] == ["/old/*", "/ping"] and b.routes == []
    assert len(a.rules) == 4 and len(b.rules) == 2
    headers = Headers()
    answer = await a.rules.evaluate("GET", "/ping", "", "a.test", "127.0.0.1", headers)
    assert (answer.status, answer.body) == (200, b"a")
    assert answer.edits is not None and answer.edits.apply([]) == [("x-frame-options", "DENY")]
    answer = await b.rules.evaluate("GET", "/ping", "", "b.test", "127.0.0.1", headers)
    assert (answer.status, answer.body) == (200, b"server")
    answer = await b.rules.evaluate("GET", "/old/x", "", "b.test", "127.0.0.1", headers)
    assert answer.status == 0 and answer.path == "/old/x"
    assert Config().rules.describe() == [] and not Config().rules


@pytest.mark.parametrize(
    ("text", "needle"),
    [('[[route]]\npath = "/x"\nredirect = "/y"\nstatus = 200\n', "route[0].status: a redirect's status is one of"),
     ('[[route]]\npath = "/x"\n\n[[route]]\npath = "/y"\nrespond = {}\n', "route[0]: the rule does nothing"),
     ('route = 3\n', "route: expected tables"),
     ('route = [1]\n', "route: expected tables"),
     ('[route]\npath = "/x"\n', "route: expected tables"),
     ('routes = []\n', "unknown key 'routes'"),
     ('rules = []\n', "unknown key 'rules'")],
)
def test_bad_rules_are_refused_with_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    assert needle in refused(tmp_path, Config(), text)
    with pytest.raises(ConfigError) as info:
        server(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'server.toml'}: ") and needle in str(info.value)


def test_trusted_proxies_are_cidr_blocks_of_the_server_config(tmp_path: Path) -> None:
    cfg = server(tmp_path, '[server]\ntrusted_proxies = ["10.0.0.0/8", "::1", "192.0.2.7"]\n')
    assert cfg.server.trusted_proxies == ["10.0.0.0/8", "::1", "192.0.2.7"]
    assert Config().server.trusted_proxies == []
    with pytest.raises(ConfigError, match=re.escape("server.toml: server.trusted_proxies[1]: '10.0.0.1/8' is not")):
        server(tmp_path, '[server]\ntrusted_proxies = ["::1", "10.0.0.1/8"]\n')
    with pytest.raises(ConfigError, match=re.escape("server.trusted_proxies: expected a list")):
        server(tmp_path, '[server]\ntrusted_proxies = "10.0.0.0/8"\n')
    # A site believing X-Forwarded-For from anyone would let any client choose its address.
    assert "[server] is a server setting" in refused(tmp_path, Config(), '[server]\ntrusted_proxies = ["0.0.0.0/0"]\n')


@pytest.mark.parametrize(
    ("server_value", "site_value", "allowed"),
    [("inside", "inside", True), ("inside", "owner", False), ("inside", "follow", False),
     ("owner", "inside", True), ("owner", "owner", True), ("owner", "follow", False),
     ("follow", "inside", True), ("follow", "owner", True), ("follow", "follow", True)],
)
def test_a_site_may_only_tighten_symlinks(tmp_path: Path, server_value: str, site_value: str, allowed: bool) -> None:
    base = server(tmp_path, f'[static]\nsymlinks = "{server_value}"\n')
    text = f'[static]\nsymlinks = "{site_value}"\n'
    if allowed:
        assert site(tmp_path, base, text).static.symlinks == site_value
    else:
        assert refused(tmp_path, base, text).endswith(
            f"static.symlinks = '{site_value}' is looser than the server's '{server_value}'; "
            f"a site can only make it stricter")


def test_symlinks_is_one_of_three(tmp_path: Path) -> None:
    assert Config().static.symlinks == "inside"
    with pytest.raises(ConfigError, match=r"static\.symlinks: must be one of inside, owner, follow, got 'always'"):
        server(tmp_path, '[static]\nsymlinks = "always"\n')
    assert "static.symlinks: must be one of" in refused(tmp_path, Config(), '[static]\nsymlinks = "yes"\n')
