"""The server imports without the `http2` and `http3` extras: h2 and aioquic are imported where used."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = {
    "http2": ("h2", "hpack", "hyperframe"),
    "http3": ("aioquic", "pylsqpack"),
}


def run_without(modules: tuple[str, ...], code: str) -> subprocess.CompletedProcess[str]:
    # A module set to None in sys.modules cannot be imported (ImportError), as if it were not installed.
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in modules)
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("missing", [("http2",), ("http3",), ("http2", "http3")])
def test_the_server_imports_without_the_protocol_extras(missing: tuple[str, ...]) -> None:
    modules = tuple(m for extra in missing for m in BLOCK[extra])
    code = ("import dynlan.server, dynlan.app, dynlan._serve_cmd\n"
            "from dynlan.server import Server\n"
            "import importlib\n"
            "try:\n    importlib.import_module('h2')\nexcept ImportError:\n    print('no h2')\n")
    result = run_without(modules, code)
    assert result.returncode == 0, result.stderr
    assert ("no h2" in result.stdout) == ("http2" in missing)


def test_http3_needs_no_http2_library() -> None:
    result = run_without(BLOCK["http2"], "import dynlan.http._h3proto, dynlan.server._h3server\n")
    assert result.returncode == 0, result.stderr


def test_a_missing_extra_fails_where_it_is_used() -> None:
    result = run_without(BLOCK["http2"], "import dynlan.server._h2connection\n")
    assert result.returncode != 0 and "No module named" in result.stderr
