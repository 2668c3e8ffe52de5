"""Real libraries run unchanged from a site's `_lib/`: Penlight, dkjson and inspect.lua for Lua pages (with
`package` as pure-Lua libraries expect it), h11 vendored for Python pages (in-process and in the process sandbox),
and Wren modules imported by a bare name.

The Lua libraries are Debian's (`lua-penlight`, `lua-dkjson`, `lua-inspect`, all MIT), copied into the test site
with their copyright files; h11 (MIT) is copied from the installed package. Each page runs twice: nothing a request
loads or sets is there for the next.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

LUA_SHARE = Path("/usr/share/lua")
LUA_LIBRARIES = {"pl": "lua-penlight", "dkjson.lua": "lua-dkjson", "inspect.lua": "lua-inspect"}

PENLIGHT = """\
local List = require("pl.List")
local stringx = require("pl.stringx")
local tablex = require("pl.tablex")
local template = require("pl.template")
local seq = require("pl.seq")
local pretty = require("pl.pretty")
local out = {}
local function say(...) out[#out + 1] = table.concat({...}, " ") end
local l = List{3, 1, 2}
l:sort()
l:append(4)
say("List", tostring(l), tostring(l:map(function(x) return x * 10 end)), tostring(l:slice(2, 3)))
say("stringx", stringx.split("a,b,,c", ","):join("|"), stringx.strip("  x  "), tostring(stringx.startswith("hello", "he")),
    stringx.title("hello world"), stringx.shorten("abcdefghij", 6))
say("tablex", tostring(tablex.size({a = 1, b = 2})), table.concat(tablex.keys({z = 1}), ","),
    tostring(tablex.deepcompare({a = {1}}, {a = {1}})), pretty.write(tablex.map(function(x) return x + 1 end, {1, 2}), ""))
local page = template.substitute([[
# for i, name in ipairs(names) do
<li>$(i) $(name)</li>
# end
]], {names = {"ann", "bob"}, ipairs = ipairs, _escape = "#"})
say("template", (page:gsub("\\n", "")))
say("seq", tostring(seq.sum(seq.range(1, 10))), table.concat(seq.copy(seq.filter(seq.list{1, 2, 3, 4}, function(x) return x % 2 == 0 end)), ","))
say("pretty", pretty.write({1, "two", x = {y = true}}, ""))
response.write(table.concat(out, "\\n"))
"""

OTHERS = """\
local json = require("dkjson")
local inspect = require("inspect")
local decoded = json.decode('{"a": [1, 2, {"b": null}], "c": "d"}')
response.write("dkjson ", json.encode({list = {1, 2, 3}}), " ", tostring(decoded.a[2]), " ", decoded.c, "\\n")
response.write("inspect ", inspect({1, k = "v"}, {newline = "", indent = ""}), "\\n")
"""

PACKAGE = """\
package.loaded.visits = (package.loaded.visits or 0) + 1
package.preload["made.here"] = function(name, extra) return {name = name, extra = extra} end
local made = require("made.here")
local named = require("named")
response.write(table.concat({
  "visits " .. package.loaded.visits,
  "preload " .. made.name .. " " .. made.extra .. " " .. tostring(require("made.here") == made),
  "args " .. named.name .. " " .. named.file,
  "searchpath " .. tostring(package.searchpath("pl.List", package.path)),
  ("missing" .. tostring(select(2, package.searchpath("nope", "_lib/?.lua;../?.lua")))):gsub("%s+", " "),
  "config " .. package.config:sub(1, 1),
  "stdlib " .. tostring(require("string") == string) .. " " .. tostring(package.loaded.table == table),
  "io " .. tostring(io.open("dynlan.toml")),
}, "\\n"))
io.write("\\nio.write ok")
io.stdout:write(" and io.stdout")
"""

PYTHON = """\
import h11
from h11 import Request


def handle(request, response):
    conn = h11.Connection(our_role=h11.CLIENT)
    sent = conn.send(Request(method="GET", target="/x", headers=[("Host", "example")]))
    h11.fresh = getattr(h11, "fresh", 0) + 1  # a module attribute does not outlive the request
    response.write(h11.__file__.split("/_lib/")[1] + " " + repr(sent) + " " + str(h11.fresh))
"""


def copy_lua_libraries(lib: Path) -> None:
    versions = sorted(LUA_SHARE.glob("5.*"), reverse=True)
    for name, package in LUA_LIBRARIES.items():
        source = next((v / name for v in versions if (v / name).exists()), None)
        assert source is not None, f"{name} is missing: apt-get install {package}"
        if source.is_dir():
            shutil.copytree(source, lib / name, symlinks=False)
        else:
            shutil.copyfile(source, lib / name)  # Debian links 5.x copies to one file: copy the file itself
        licence = Path("/usr/share/doc") / package / "copyright"
        shutil.copyfile(licence, lib / f"LICENSE.{package}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("libraries") / "site"
    lib = root / "_lib"
    lib.mkdir(parents=True)
    copy_lua_libraries(lib)
    (lib / "named.lua").write_text("local name, file = ...\nreturn {name = name, file = file}\n")
    shutil.copytree(Path(h11.__file__).parent, lib / "h11", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (lib / "shout.wren").write_text('import "words" for Words\nclass Shout {\n  static it(s) { Words.upper(s) + "!" }\n}\n')
    (lib / "words.wren").write_text('class Words {\n  static upper(s) { s.bytes.map {|b| '
                                    'String.fromByte(b >= 97 && b <= 122 ? b - 32 : b) }.join() }\n}\n')
    (root / "index.html").write_text("libraries")  # a site (a folder of folders alone would be a folder of sites)
    (root / "lua").mkdir()
    (root / "lua" / "penlight.lua").write_text(PENLIGHT)
    (root / "lua" / "others.lua").write_text(OTHERS)
    (root / "lua" / "package.lua").write_text(PACKAGE)
    (root / "py").mkdir()
    (root / "py" / "h11page.py").write_text(PYTHON)
    (root / "wren" / "deep").mkdir(parents=True)
    (root / "wren" / "deep" / "shout.wren").write_text('import "shout" for Shout\nSystem.print(Shout.it("hello"))\n')
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site) as s:
        yield s


def twice(server: RunningServer, path: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        first, second = c.get(path), c.get(path)
    assert first.status_code == 200, first.text[-3000:] + server.log()[-3000:]
    assert second.text == first.text
    return first.text


def test_penlight(server: RunningServer) -> None:
    lines = twice(server, "/lua/penlight").splitlines()
    assert lines == [
        "List {1,2,3,4} {10,20,30,40} {2,3}",
        "stringx a|b||c x true Hello World abc...",
        "tablex 2 z true {2,3}",
        "template <li>1 ann</li><li>2 bob</li>",
        "seq 55 2,4",
        'pretty {1,"two",x={y=true}}',
    ]


def test_dkjson_and_inspect(server: RunningServer) -> None:
    assert twice(server, "/lua/others") == 'dkjson {"list":[1,2,3]} 2 d\ninspect { 1,k = "v"}\n'


def test_lua_package(server: RunningServer) -> None:
    assert twice(server, "/lua/package").splitlines() == [
        "visits 1",  # package.loaded is the request's own
        "preload made.here :preload: true",
        "args named _lib/named.lua",
        "searchpath _lib/pl/List.lua",
        "missing no file '_lib/nope.lua' no file '../nope.lua'",
        "config /",
        "stdlib true true",
        "io nil",
        "io.write ok and io.stdout",
    ]


def test_python_package_vendored_in_lib(server: RunningServer) -> None:
    text = twice(server, "/py/h11page")
    assert text == "h11/__init__.py b'GET /x HTTP/1.1\\r\\nHost: example\\r\\n\\r\\n' 1"


def test_python_package_vendored_in_lib_in_the_process_sandbox(site: Path) -> None:
    with run_dynlan(site, config='[python]\nsandbox = "process"\n') as sandboxed:
        text = twice(sandboxed, "/py/h11page")
    assert text == "h11/__init__.py b'GET /x HTTP/1.1\\r\\nHost: example\\r\\n\\r\\n' 1"


def test_wren_modules_from_lib_by_name(server: RunningServer) -> None:
    assert twice(server, "/wren/deep/shout") == "HELLO!\n"
