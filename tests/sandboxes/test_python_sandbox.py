"""The Python process sandbox end to end: confinement and failure isolation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

PAGES = {
    "fds.py": ("import os\n\ndef handle(request, response):\n    fds = {}\n"
               "    for fd in os.listdir('/proc/self/fd'):\n"
               "        try:\n            fds[fd] = os.readlink(f'/proc/self/fd/{fd}')\n"
               "        except OSError:\n            pass\n"
               "    response.json(fds)\n"),
    "cwd.py": "import os\n\ndef handle(request, response):\n    response.write(os.getcwd())\n",
    "limits.py": ("import resource\n\ndef handle(request, response):\n"
                  "    response.write(f\"{resource.getrlimit(resource.RLIMIT_AS)[1]} {resource.getrlimit(resource.RLIMIT_CPU)[1]}\")\n"),
    "raise_limit.py": ("import resource\n\ndef handle(request, response):\n"
                       "    try:\n        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
                       "        response.write('raised')\n    except (ValueError, OSError):\n        response.write('refused')\n"),
    "crash.py": "import os\n\ndef handle(request, response):\n    os._exit(3)\n",
    "kill.py": "import os, signal\n\ndef handle(request, response):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    "pid.py": "import os\n\ndef handle(request, response):\n    response.write(f'{os.getppid()} {os.getpid()}')\n",
    "sleepy.py": "import time\n\ndef handle(request, response):\n    time.sleep(30)\n",
    "hello.py": "def handle(request, response):\n    response.write('hello')\n",
    "printer.py": "def handle(request, response):\n    print('this goes to the log, not the protocol')\n    response.write('ok')\n",
    "counter.py": "def handle(request, response):\n    response.write(str(cache.incr('sandbox-hits', 1)))\n",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("sandboxsite")
    for name, source in PAGES.items():
        (root / name).write_text(source)
    (root / "dynlan.toml").write_text('[python]\nsandbox = "process"\n\n[limits]\nwall_time = 2.0\nmemory = 67108864\n')
    with run_dynlan(root, config="[python]\nworkers = 2\ncpu_seconds = 1\n") as s:
        yield s


def get(server: RunningServer, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=20)


def test_no_inherited_file_descriptors(server: RunningServer) -> None:
    fds = get(server, "/fds").json()
    # /dev/null as stdin, the server's log as stdout and stderr, the request's own socket; never the worker's
    # pipes to the host (a page holding them could read the next request).
    assert fds["0"] == "/dev/null" and fds["3"].startswith("socket:"), fds
    assert set(fds) == {"0", "1", "2", "3"}, fds


def test_working_folder_is_the_site(server: RunningServer) -> None:
    assert get(server, "/cwd").text.endswith("sandboxsite0")


def test_rlimits_are_applied_and_cannot_be_raised(server: RunningServer) -> None:
    as_limit, cpu_limit = (int(x) for x in get(server, "/limits").text.split())
    assert 0 < as_limit < 2**40 and 0 < cpu_limit < 2**31
    assert get(server, "/raise_limit").text == "refused"


@pytest.mark.parametrize("page", ["/crash", "/kill"])
def test_a_crashing_page_takes_only_its_own_request(server: RunningServer, page: str) -> None:
    results: list[int] = []

    def hello() -> None:
        results.append(get(server, "/hello").status_code)

    threads = [threading.Thread(target=hello) for _ in range(4)]
    for t in threads:
        t.start()
    r = get(server, page)
    for t in threads:
        t.join()
    assert r.status_code == 500 and "request id" in r.text
    assert results == [200] * 4
    assert get(server, "/hello").text == "hello"


def test_wall_time_kill_replaces_the_worker(server: RunningServer) -> None:
    r = get(server, "/sleepy")
    assert r.status_code == 503 and "time budget" in r.text
    assert get(server, "/hello").status_code == 200


def test_page_print_does_not_break_the_protocol(server: RunningServer) -> None:
    assert get(server, "/printer").text == "ok"
    assert get(server, "/printer").text == "ok"


def test_host_cache_is_shared_across_workers(server: RunningServer) -> None:
    values = {int(get(server, "/counter").text) for _ in range(6)}
    assert len(values) == 6  # one counter in the host, whichever worker ran the page


def test_every_request_runs_in_a_fresh_process_of_a_reused_worker(server: RunningServer) -> None:
    answers = [get(server, "/pid").text.split() for _ in range(10)]
    workers = {parent for parent, _ in answers}
    processes = {pid for _, pid in answers}
    assert 1 <= len(workers) <= 2  # the pool size
    assert len(processes) == 10  # a fresh process each time


# Pages that break the protocol between a request's process and its worker, each in its own way.
PROTOCOL_BREAKERS = {
    "garbage.py": "import os\n\ndef handle(request, response):\n    os.write(3, b'\\x00\\x00\\x00\\x10Zgarbage-garbage')\n",
    # A frame of a kind only the worker may send ("ready"): the host must never take it for the worker's.
    "forge.py": ("import json, os\n\ndef handle(request, response):\n    data = b'R' + json.dumps({'pid': 1}).encode()\n"
                 "    os.write(3, len(data).to_bytes(4, 'big') + data)\n"),
    "oversized.py": "import os\n\ndef handle(request, response):\n    os.write(3, (2**31).to_bytes(4, 'big') + b'd')\n",
    "cut_short.py": "import os\n\ndef handle(request, response):\n    os.write(3, (100).to_bytes(4, 'big') + b'd{\"status\"')\n    os._exit(0)\n",
    "malformed.py": "import os\n\ndef handle(request, response):\n    os.write(3, b'\\x00\\x00\\x00\\x05d{bad')\n",
    "closes_socket.py": "import os\n\ndef handle(request, response):\n    os.close(3)\n",
    "exits.py": "import sys\n\ndef handle(request, response):\n    sys.exit(0)\n",
}
SINGLE_WORKER_PAGES = {
    **PROTOCOL_BREAKERS,
    # A host call whose answer it never reads, then its last frame at once: the answer must not reach the
    # next request's process.
    "no_wait.py": ("import json, os\n\n"
                   "def frame(kind, head, raw=None):\n"
                   "    data = kind + json.dumps(head).encode() + (b'\\n' + raw if raw is not None else b'')\n"
                   "    return len(data).to_bytes(4, 'big') + data\n\n"
                   "def handle(request, response):\n"
                   "    os.write(3, frame(b'c', {'op': 'fs_read', 'args': ['worker.py']})\n"
                   "             + frame(b'd', {'status': 200, 'headers': [['content-type', 'text/plain']]}, b'early'))\n"
                   "    os._exit(0)\n"),
    "worker.py": "import os\n\ndef handle(request, response):\n    response.write(str(os.getppid()))\n",
    "echo_json.py": "def handle(request, response):\n    response.json(request.json())\n",
    "files.py": ("def handle(request, response):\n    log.info('read by a sandboxed page')\n"
                 "    response.write(f\"{fs.read('worker.py')[:9]}|{len(fs.read_bytes('worker.py'))}|{fs.exists('nope')}\")\n"),
}


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("single")
    for name, source in SINGLE_WORKER_PAGES.items():
        (root / name).write_text(source)
    with run_dynlan(root, "--no-access-log", config='[python]\nsandbox = "process"\nworkers = 1\n') as s:
        yield s


@pytest.mark.parametrize("page", sorted(PROTOCOL_BREAKERS))
def test_a_page_breaking_the_worker_protocol_fails_alone(single: RunningServer, page: str) -> None:
    worker = get(single, "/worker").text
    r = get(single, "/" + page.removesuffix(".py"))
    assert r.status_code == 500 and "request id" in r.text
    # The same worker answers the next request: it ended the page's process and stayed in step with the host.
    assert get(single, "/worker").text == worker


def test_an_answer_nobody_waits_for_is_dropped(single: RunningServer) -> None:
    worker = get(single, "/worker").text
    for _ in range(2):
        assert get(single, "/no_wait").text == "early"
        assert get(single, "/worker").text == worker


def test_a_request_the_host_ends_early_keeps_the_worker_in_step(single: RunningServer) -> None:
    worker = get(single, "/worker").text
    bad = httpx.post(single.url + "/echo_json", content=b"{not json", headers={"content-type": "application/json"},
                     timeout=20)
    assert bad.status_code == 400
    good = httpx.post(single.url + "/echo_json", content=b'{"a": [1, 2]}', headers={"content-type": "application/json"},
                      timeout=20)
    assert good.json() == {"a": [1, 2]}
    assert get(single, "/worker").text == worker


def test_files_and_log_through_the_host(single: RunningServer) -> None:
    size = len(SINGLE_WORKER_PAGES["worker.py"].encode())
    assert get(single, "/files").text == f"import os|{size}|False"
    deadline = time.monotonic() + 10
    while "read by a sandboxed page" not in single.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "read by a sandboxed page" in single.log()
