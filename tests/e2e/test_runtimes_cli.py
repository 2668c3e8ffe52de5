"""`dynlan runtimes`, and a third-party adapter loaded through its entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests._server import run_dynlan

pytestmark = pytest.mark.e2e


def test_runtimes_lists_every_runtime() -> None:
    p = subprocess.run([sys.executable, "-m", "dynlan", "runtimes"], capture_output=True, text=True, check=True)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["RUNTIME", "SUFFIXES", "VERSION", "STATUS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert ".lua" in rows["lua"] and "available" in rows["lua"] and "lupa" in rows["lua"]
    # The example adapter from examples/dynlan-template, found through its entry point.
    assert ".tmpl" in rows["template"] and "available" in rows["template"]
    # The columns fit their widest cell: each starts at the same place on every line.
    for heading in ("SUFFIXES", "VERSION", "STATUS"):
        start = lines[0].index(heading)
        assert all(line[start - 2:start] == "  " and line[start] != " " for line in lines), (heading, p.stdout)


def test_example_adapter_serves_pages(tmp_path: Path) -> None:
    (tmp_path / "hello.tmpl").write_text("Hello, ${q_name}! $method $path\n")
    (tmp_path / "items").mkdir()
    (tmp_path / "items" / "[sku].tmpl").write_text("item $p_sku\n")
    with run_dynlan(tmp_path) as server:
        r = httpx.get(server.url + "/hello?name=entry-point")
        assert r.status_code == 200 and r.text == "Hello, entry-point! GET /hello\n"
        assert httpx.get(server.url + "/items/ab-12").text == "item ab-12\n"
