"""`dynlan openapi PATH`: the OpenAPI 3.1 document of a site's pages, through the real command line, validated
with openapi-spec-validator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.unit.test_openapi import PAGES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def openapi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dynlan", "openapi", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    for name, text in PAGES.items():
        folder = root / name.rsplit(".", 1)[1]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    (root / "users").mkdir()
    (root / "users" / "[id].lua").write_text("print(request.params.id)\n")
    (root / "users" / "index.py").write_text("# @summary All users\ndef handle(request, response): pass\n")
    (root / "_tpl").mkdir()
    (root / "_tpl" / "x.html").write_text("not a route")
    (root / "index.lua").write_text("-- @summary Home\nprint(1)\n")
    return root


def test_the_document_of_a_site_is_valid_openapi(site: Path) -> None:
    run = openapi(str(site), "--title", "Test API")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    validate(doc)
    assert doc["openapi"] == "3.1.0" and doc["info"] == {"title": "Test API", "version": "1.0.0"}
    assert sorted(doc["paths"]) == ["/", "/jinja/items", "/lua/items", "/php/items", "/py/items", "/users/",
                                    "/users/{id}", "/wren/items"]
    for language in ("jinja", "lua", "php", "py", "wren"):
        item = doc["paths"][f"/{language}/items"]
        assert sorted(item) == ["get", "post"]
        assert "requestBody" not in item["get"]
        assert item["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name"]
        assert item["get"]["responses"]["404"] == {"description": "No such item"}
    user = doc["paths"]["/users/{id}"]["get"]
    assert user["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert doc["paths"]["/users/"]["get"]["summary"] == "All users"


def test_the_demo_site_is_valid_openapi() -> None:
    run = openapi(str(ROOT / "sites" / "demo"))
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    validate(doc)
    assert doc["paths"]["/api/items"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] \
        == ["name"]
    assert doc["paths"]["/api/items/{id}"]["get"]["parameters"][0]["schema"] == {"type": "integer"}


def test_a_bad_annotation_stops_the_command(site: Path) -> None:
    (site / "lua" / "bad.lua").write_text("-- @response two hundred\n")
    run = openapi(str(site))
    assert run.returncode == 2 and "lua/bad.lua:1: @response takes a status" in run.stderr and not run.stdout


def test_several_sites_need_a_name(tmp_path: Path, site: Path) -> None:
    for host in ("a.test", "b.test"):
        (tmp_path / "hosts" / host).mkdir(parents=True)
        (tmp_path / "hosts" / host / "page.lua").write_text(f"-- @summary page of {host}\nprint(1)\n")
    run = openapi(str(tmp_path / "hosts"))
    assert run.returncode == 2 and "--site" in run.stderr
    run = openapi(str(tmp_path / "hosts"), "--site", "b.test")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["paths"]["/page"]["get"]["summary"] == "page of b.test"
