"""Strict tooling is part of the suite: ruff on the tree, mypy strict on `dynlan/`, `runtimes/` and `sandboxes/`
(pyproject [tool.mypy], through the links in .mypy/dynlan/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_ruff() -> None:
    p = subprocess.run([str(BIN / "ruff"), "check", "dynlan", "runtimes", "sandboxes", "tests", "bench", "examples", "sites"],
                       cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_mypy_strict() -> None:
    p = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
