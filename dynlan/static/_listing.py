"""An HTML listing of a folder (off by default: `[static] listing = true`)."""

from __future__ import annotations

import html
import os
from urllib.parse import quote

from dynlan.static._http import http_date


def render_listing(url_path: str, fs_path: str) -> bytes:
    entries = []
    with os.scandir(fs_path) as it:
        for entry in it:
            if entry.name.startswith((".", "_")) or entry.name == "dynlan.toml":
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            entries.append((not entry.is_dir(), entry.name.lower(), entry.name, entry.is_dir(), st.st_size, st.st_mtime))
    entries.sort()
    title = html.escape(url_path)
    rows = []
    if url_path != "/":
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for _, _, name, is_dir, size, mtime in entries:
        href = quote(name) + ("/" if is_dir else "")
        label = html.escape(name) + ("/" if is_dir else "")
        rows.append(f'<tr><td><a href="{href}">{label}</a></td><td>{"-" if is_dir else size}</td>'
                    f"<td>{html.escape(http_date(mtime))}</td></tr>")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Index of {title}</title></head>"
            f"<body><h1>Index of {title}</h1><table>{''.join(rows)}</table></body></html>\n").encode()
