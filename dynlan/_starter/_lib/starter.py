# Shared by the Python pages: `from _lib import starter` loads _lib/starter.py.
from html import escape


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<link rel="stylesheet" href="/assets/style.css"></head><body><main><h1>{escape(title)}</h1>'
            f'{body}<p><a href="/">Home</a></p></main></body></html>\n')
