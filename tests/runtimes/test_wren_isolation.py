"""Wren pages against each other: one server, one VM, an attacker site (a.test) and a victim site (b.test).

Every request runs in the worker's one Wren VM, so what the prelude, core or a module holds is seen by every
request unless it is fresh per request. Each test attacks through a real server over HTTP/1.1 and asserts on
what reaches the attacker (never the victim's secret file or cookie) and on the victim's answers (200 with
its own output, every time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

SECRET = "B-SECRET-4711"
COOKIE = "B-COOKIE-0815"
CONFIG = "[limits]\nwall_time = 30.0\n"
"""Room for the bounded attack loops on a busy machine (each stops on a flag long before)."""

FLAG = """\
// ?set=KEY sets a flag in this site's cache, ?get=KEY says whether it is set.
var set = Request.query["set"]
if (set != null) Cache.set(set, 1)
var get = Request.query["get"]
System.print(get == null ? "ok" : (Cache.get(get) != null).toString)
"""

VICTIM = """\
var secret = Fs.read("_secret.txt")
var cookie = Request.cookies["session"]
for (i in 0...10) Host.sleep(0.02)
System.print("victim %(secret) %(Fs.read("_secret.txt")) %(cookie)")
"""

HOLD = """\
// Stays in flight (suspended in Host.sleep) until the test sets release-KEY: a victim to look for.
var victimVariableXYZ = Fs.read("_secret.txt")
var key = Request.query["k"]
Cache.set("started-" + key, 1)
var i = 0
while (Cache.get("release-" + key) == null && i < 3000) {
  Host.sleep(0.005)
  i = i + 1
}
System.print("held %(victimVariableXYZ)")
"""

KEEP = """\
// One page, compiled once: each request runs a copy, with classes, statics and module variables of its own.
class Keep {
  static put(x) { __x = x }
  static take { __x }
}
class Held is Keep {
  construct new(x) { _x = x }
  x { _x }
}
var before = Keep.take
var mine = Request.query["v"] == "secret" ? Fs.read("_secret.txt") : Request.query["v"]
Keep.put(Held.new(mine))
var key = Request.query["k"]
if (key != null) {
  Cache.set("started-" + key, 1)
  var i = 0
  while (Cache.get("release-" + key) == null && i < 3000) {
    Host.sleep(0.005)
    i = i + 1
  }
}
System.print("before %(before) kept %(Keep.take.x)")
"""

BOX = """\
class Box {
  static put(x) { __x = x }
  static take { __x }
}
var Counter = [0]
var Stash = []
"""

STASH = """\
// Leaves its fiber and a closure over its secret in a site module, then waits for release-KEY.
import "./_lib/box" for Box, Counter, Stash
Counter[0] = Counter[0] + 1
var secret = Fs.read("_secret.txt")
Box.put(Fiber.current)
Stash.add(Fn.new { secret })
var key = Request.query["k"]
Cache.set("started-" + key, 1)
var i = 0
while (Cache.get("release-" + key) == null && i < 3000) {
  Host.sleep(0.005)
  i = i + 1
}
System.print("stash %(secret) count %(Counter[0])")
"""

TAKE = """\
import "./_lib/box" for Box, Counter, Stash
Counter[0] = Counter[0] + 1
var stolen = Stash.map {|fn| fn.call() }.toList
var f = Box.take
var took = f is Fiber && f != Fiber.current
System.print("take count %(Counter[0]) stash %(stolen) fiber %(took)")
if (took) f.transfer([true, null])
"""

GRAB = """\
// Resumes, inside this request, any suspended fiber the prelude lets it reach (`Host.waiting` held the
// last one that waited on I/O), until stop-KEY is set.
var key = Request.query["k"]
Cache.set("attacking-" + key, 1)
var grabbed = 0
var i = 0
while (Cache.get("stop-" + key) == null && i < 3000) {
  var f = Fiber.new { Host.waiting }.try()
  if (f is Fiber && f != Fiber.current) {
    grabbed = grabbed + 1
    f.transfer([true, null])
  }
  Host.sleep(0.005)
  i = i + 1
}
System.print("grabbed %(grabbed)")
"""

EVIL = """\
import "meta" for Meta
// Meta.compile_ called from a method that the prelude (Response.write -> toString) or core (List.join ->
// toString) calls: it must compile into this page's module, never into theirs.
class Evil {
  construct new(source, expression) {
    _source = source
    _expression = expression
  }
  toString {
    var fn = Meta.compile_(_source, _expression, false)
    _out = fn == null ? "refused" : fn.call()
    return ""
  }
  out { _out }
}
"""

INSTALL = EVIL + """\
var spy = "
class Spy_ {
  static stolen { __stolen }
  static read(path) {
    var v = Orig_.read(path)
    __stolen = (__stolen == null ? \\"\\" : __stolen) + v
    return v
  }
  static exists(path) { Orig_.exists(path) }
  static list(path) { Orig_.list(path) }
  static stat(path) { Orig_.stat(path) }
}
var Orig_ = Fs
Fs = Spy_
"
Response.write(Evil.new(spy, false))
System.print([Evil.new("var Pwned_ = 1", false)])
System.print("installed")
"""

COLLECT = EVIL + """\
var e = Evil.new("Spy_.stolen", true)
Response.write(e)
System.print("stolen %(e.out)")
"""

PROBE = """\
// What a victim page sees of the shared modules: a replaced Fs, a variable added to core or the prelude
// (which Meta does not list to a page: it finds only the page's own module).
import "meta" for Meta
var listed = Fiber.new { Meta.getModuleVariables("dynlan") }.try()
var spy = Fiber.new {
  import "dynlan" for Spy_
}.try()
var pwned = Fiber.new {
  import "dynlan" for Pwned_
}.try()
var core = Meta.compile_("Pwned_", true, false)
var clean = listed == "Could not find a module named 'dynlan'." && spy is String && pwned is String &&
  core == null && Fs.read("_secret.txt") != ""
System.print(clean ? "clean" : "tampered: %(listed) %(spy) %(pwned)")
"""

MODVARS = """\
// Lists the variables of every module it can name: other requests' page modules (page#N), the other
// site's module by path, relative paths out of the site.
import "meta" for Meta
var names = Request.query["names"].split(",")
for (i in 1...3000) names.add("page#%(i)")
var found = []
for (n in names) {
  var r = Fiber.new { Meta.getModuleVariables(n) }.try()
  if (r is List) found.add("%(n)=%(r.join("|"))")
}
System.print(found.join("\\n"))
"""

IMPORTS = """\
var tried = []
var ok = []
tried.add(Fiber.new {
  import "./../b.test/_lib/box" for Box
  ok.add("relative")
}.try())
tried.add(Fiber.new {
  import "page#1" for Request
  ok.add("page#1")
}.try())
tried.add(Fiber.new {
  import "{box}" for Box
  ok.add("absolute")
}.try())
tried.add(Fiber.new {
  import "{box}#1" for Box
  ok.add("absolute#1")
}.try())
System.print("imported %(ok)")
System.print(tried.join("\\n"))
"""

DIRECT = """\
// Host.call_ called directly: it acts for this request only, and takes plain values only.
var own = Fiber.new { Host.call_("fs_read", "_secret.txt", null, null, Fiber.current) }.try()
var object = Fiber.new { Host.call_("fs_read", Fiber.current, null, null, Fiber.current) }.try()
var out = Fiber.new { Host.call_("fs_read", "../b.test/_secret.txt", null, null, Fiber.current) }.try()
System.print([own, object, out].join("|"))
"""

SHARED = """\
// Classes every request shares (the prelude's, core's, the built-in modules'): none carries anything a
// page could write (static fields are private to their class's methods; attributes would be mutable maps).
import "meta" for Meta
import "random" for Random
var shared = [Host, Request, Response, Cache, Fs, Log, Json, Meta, Random, Object, Class, Bool, Fiber, Fn, Null,
  Num, Sequence, String, List, Map, Range, System]
System.print(shared.where {|c| c.attributes != null }.toList)
System.print(Fiber.new { Host.waiting }.try())
"""

PRINT = """\
var tag = Request.query["tag"]
for (i in 0...100) {
  System.print("%(tag)%(i)")
  var x = 0
  for (j in 0...20000) x = x + j
}
"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wrensites")
    a, b = root / "a.test", root / "b.test"
    (a / "_lib").mkdir(parents=True)
    (b / "_lib").mkdir(parents=True)
    (b / "_secret.txt").write_text(SECRET)
    (a / "_secret.txt").write_text("A-FILE")
    box = str(b / "_lib" / "box")
    pages = {
        b: {"flag": FLAG, "victim": VICTIM, "hold": HOLD, "stash": STASH, "take": TAKE, "probe": PROBE,
            "print": PRINT, "hello": 'System.print("hello from b")\n', "_lib/box": BOX, "keep": KEEP},
        a: {"flag": FLAG, "grab": GRAB, "install": INSTALL, "collect": COLLECT, "modvars": MODVARS,
            "imports": IMPORTS.replace("{box}", box), "direct": DIRECT, "print": PRINT, "shared": SHARED},
    }
    for site, files in pages.items():
        for name, source in files.items():
            (site / f"{name}.wren").write_text(source)
    return root


@pytest.fixture(scope="module")
def server(sites: Path) -> Iterator[RunningServer]:
    with run_dynlan(sites, "--no-access-log", config=CONFIG) as s:
        yield s


def get(server: RunningServer, site: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.url + path, params=params, headers={"host": site}, cookies={"session": COOKIE},
                     timeout=60)


def wait_flag(server: RunningServer, site: str, key: str) -> None:
    """Until a page in flight has set `key` in its site's cache (it started and is suspended)."""
    deadline = time.monotonic() + 30
    while get(server, site, "/flag", get=key).text.strip() != "true":
        assert time.monotonic() < deadline, f"{site} never set {key}"


def in_background(server: RunningServer, site: str, path: str, **params: str) -> tuple[threading.Thread,
                                                                                       list[httpx.Response]]:
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(get(server, site, path, **params)))
    thread.start()
    return thread, answers


def assert_no_secret(response: httpx.Response) -> None:
    assert SECRET not in response.text and COOKIE not in response.text, response.text


def test_a_page_cannot_resume_another_requests_fiber(server: RunningServer) -> None:
    # The prelude kept the last fiber that waited on I/O in a static (`Host.waiting`): an attacker resumed
    # the victim's fiber inside its own request, got the victim's output (its file and cookie) and the
    # victim got a 500.
    attackers = [in_background(server, "a.test", "/grab", k=f"grab{n}") for n in range(2)]
    for n in range(2):
        wait_flag(server, "a.test", f"attacking-grab{n}")
    victims: list[httpx.Response] = []
    hello_times: list[float] = []
    for _ in range(4):
        thread, answers = in_background(server, "b.test", "/victim")
        started = time.perf_counter()
        hello = get(server, "b.test", "/hello")
        hello_times.append(time.perf_counter() - started)
        assert hello.status_code == 200 and hello.text == "hello from b\n"
        thread.join(60)
        victims.extend(answers)
    for n in range(2):
        get(server, "a.test", "/flag", set=f"stop-grab{n}")
    for thread, _ in attackers:
        thread.join(60)
    for _, answers in attackers:
        [attack] = answers
        assert_no_secret(attack)
        assert attack.status_code == 200 and attack.text == "grabbed 0\n", attack.text
    assert [(r.status_code, r.text) for r in victims] == [(200, f"victim {SECRET} {SECRET} {COOKIE}\n")] * 4
    assert max(hello_times) < 1.0, hello_times


def test_meta_compile_stays_in_the_calling_pages_module(server: RunningServer) -> None:
    # A page's toString called by the prelude (Response.write) or by core (List.join) compiled code into
    # those shared modules: a spy replaced `Fs` in the prelude for every later request of every site and
    # kept what they read.
    install = get(server, "a.test", "/install")
    assert install.status_code == 200 and install.text.endswith("installed\n"), install.text
    victim = get(server, "b.test", "/victim")
    assert (victim.status_code, victim.text) == (200, f"victim {SECRET} {SECRET} {COOKIE}\n")
    probe = get(server, "b.test", "/probe")
    assert (probe.status_code, probe.text) == (200, "clean\n")
    collect = get(server, "a.test", "/collect")
    assert_no_secret(collect)
    assert collect.status_code == 200 and collect.text == "stolen refused\n", collect.text  # no Spy_ where it compiles


def test_module_variables_of_other_requests_and_sites_are_not_found(server: RunningServer, sites: Path) -> None:
    # Meta.getModuleVariables took any module name: another request's page (`page#N`, with its variable
    # names) or another site's module by its path.
    held = in_background(server, "b.test", "/hold", k="modvars")
    stash = in_background(server, "b.test", "/stash", k="modvars-stash")
    wait_flag(server, "b.test", "started-modvars")
    wait_flag(server, "b.test", "started-modvars-stash")
    box = str(sites / "b.test" / "_lib" / "box")
    names = ",".join([box, box + "#1", "./../b.test/_lib/box", "dynlan", "meta"])
    scan = get(server, "a.test", "/modvars", names=names)
    get(server, "b.test", "/flag", set="release-modvars")
    get(server, "b.test", "/flag", set="release-modvars-stash")
    for thread, _ in (held, stash):
        thread.join(60)
    assert scan.status_code == 200, scan.text
    found = dict(line.split("=", 1) for line in scan.text.splitlines() if line)
    # At most its own page module (named by a number that counts up): not the prelude, not a built-in module.
    pages = list(found)
    assert len(pages) <= 1 and all(name.startswith("page#") and "names|found" in found[name] for name in pages), scan.text
    assert "victimVariableXYZ" not in scan.text and "Box" not in scan.text and "Stash" not in scan.text
    assert [(r.status_code, r.text) for r in held[1]] == [(200, f"held {SECRET}\n")]
    assert [(r.status_code, r.text) for r in stash[1]] == [(200, f"stash {SECRET} count 1\n")]


def test_imports_reach_only_the_pages_own_site(server: RunningServer) -> None:
    r = get(server, "a.test", "/imports")
    assert r.status_code == 200 and r.text.startswith("imported []\n"), r.text
    assert r.text.count("Could not resolve module") == 4, r.text


def test_site_module_state_is_fresh_for_every_request(server: RunningServer) -> None:
    # A site module was compiled once per worker: its variables (a fiber, a closure over a secret) were
    # there for the next request of the site, which resumed the fiber and took its output.
    stash = in_background(server, "b.test", "/stash", k="stash")
    wait_flag(server, "b.test", "started-stash")
    take = get(server, "b.test", "/take")
    again = get(server, "b.test", "/take")
    get(server, "b.test", "/flag", set="release-stash")
    stash[0].join(60)
    for r in (take, again):
        assert (r.status_code, r.text) == (200, "take count 1 stash [] fiber false\n")
    assert [(r.status_code, r.text) for r in stash[1]] == [(200, f"stash {SECRET} count 1\n")]


def test_host_call_made_directly_acts_for_its_own_request_only(server: RunningServer) -> None:
    r = get(server, "a.test", "/direct")
    assert r.status_code == 200, r.text
    own, passed_object, outside = r.text.rstrip("\n").split("|")
    assert own == "A-FILE"
    assert passed_object == "host calls take strings, numbers, booleans, null, lists and maps"
    assert "outside the site root" in outside
    assert_no_secret(r)


def test_shared_classes_hold_nothing_a_page_can_write(server: RunningServer) -> None:
    r = get(server, "a.test", "/shared")
    assert (r.status_code, r.text) == (200, "[]\nHost metaclass does not implement 'waiting'.\n")


def test_print_goes_to_the_response_of_the_request_that_prints(server: RunningServer) -> None:
    # Pages run in slices and interleave in the one VM: what each prints must land in its own response.
    runs = [in_background(server, site, "/print", tag=tag) for site, tag in
            (("a.test", "A"), ("b.test", "B"), ("a.test", "C"), ("b.test", "D"))]
    for thread, _ in runs:
        thread.join(120)
    for (_, [r]), tag in zip(runs, "ABCD", strict=True):
        assert r.status_code == 200
        assert r.text == "".join(f"{tag}{i}\n" for i in range(100))


def test_requests_of_one_page_each_run_their_own_copy_of_it(server: RunningServer) -> None:
    # The page is compiled once (a template) and each request runs a copy: one in flight with the secret in a
    # class static and a module variable is not seen by the next requests of the same page.
    held = in_background(server, "b.test", "/keep", v="secret", k="keep")
    wait_flag(server, "b.test", "started-keep")
    others = [get(server, "b.test", "/keep", v=f"other{i}") for i in range(3)]
    get(server, "b.test", "/flag", set="release-keep")
    held[0].join(60)
    assert [(r.status_code, r.text) for r in others] == [(200, f"before null kept other{i}\n") for i in range(3)]
    assert [(r.status_code, r.text) for r in held[1]] == [(200, f"before null kept {SECRET}\n")]
