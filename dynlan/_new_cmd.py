"""`dynlan new PATH`: a starter site to begin from.

The site is the folder `dynlan/_starter/` copied: an index, a page per language (query, form, a cache
counter, a route parameter) with its helper module in `_lib/`, the site's `errors/404.html` and
`errors/500.html`, and a commented `dynlan.toml`. A language whose runtime is not available here (no
php-cgi, say) gets no page, and the command says why.
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import sys
from pathlib import Path

from dynlan._cli import CliError

STARTER = Path(__file__).parent / "_starter"

LANGUAGES = {
    # runtime name: (folder of its page, the page's file, its module in _lib/, what the index calls it)
    "lua": ("lua", "[name].lua", "starter.lua", "Lua"),
    "python": ("python", "[name].py", "starter.py", "Python"),
    "wren": ("wren", "[name].wren", "starter.wren", "Wren"),
    "php": ("php", "[name].php", "starter.php", "PHP"),
}


def _available() -> dict[str, str]:
    """Each starter language's runtime: "" when it is available, else why not."""
    from dynlan.runtimes import registry

    out = {name: "not installed" for name in LANGUAGES}
    for name, _, _, status in registry().describe():
        if name in out:
            out[name] = "" if status == "available" else status.removeprefix("unavailable: ")
    return out


def new_command(args: argparse.Namespace) -> int:
    target = Path(args.path)
    if target.exists() and not target.is_dir():
        raise CliError(f"{target}: not a folder")
    if target.is_dir() and any(target.iterdir()):
        raise CliError(f"{target}: the folder is not empty (dynlan new writes a site into a new or empty folder)")
    available = _available()
    written: list[str] = []
    skipped: list[str] = []
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(STARTER.rglob("*")):
        rel = source.relative_to(STARTER)
        if source.is_dir() or "__pycache__" in rel.parts:
            continue
        language = next((name for name, (folder, page, module, _) in LANGUAGES.items()
                         if rel.parts[0] == folder or rel.as_posix() == f"_lib/{module}"), None)
        if language is not None and available[language]:
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / rel)
        written.append(rel.as_posix())
    links = []
    for name, (folder, _, _, title) in LANGUAGES.items():
        if available[name]:
            skipped.append(f"{title} ({available[name]})")
            continue
        links.append(f'<li><a href="/{folder}/world?greeting=Hello">{html.escape(title)}</a>: '
                     f"<code>{folder}/{LANGUAGES[name][1]}</code></li>")
    index = target / "index.html"
    index.write_text(index.read_text().replace("<!-- pages -->", "\n".join(links)))
    shown = os.path.relpath(target) if not target.is_absolute() or str(target).startswith(os.getcwd()) else target
    print(f"wrote a starter site in {shown}/ ({len(written)} files)")
    if skipped:
        print("no page for " + ", ".join(skipped))
    print(f"serve it with: dynlan serve {shown} --dev")
    sys.stdout.flush()
    return 0
