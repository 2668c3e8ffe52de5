"""Every Python example of wrenpy's README runs as written, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example(index: int) -> None:
    done = subprocess.run([sys.executable, "-c", EXAMPLES[index]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
