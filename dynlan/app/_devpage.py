"""The `--dev` error page: one page for every runtime and for templates.

Self-contained (its styling inline, no script, no external asset), it shows the error and its kind
once, the page's own frames innermost first, each with a highlighted excerpt of the site's file and
its failing line marked, the request (cookies and credentials masked), the budgets used and the
request id. It is rendered only for a server started with `--dev` (dynlan.app._errors).
"""

from __future__ import annotations

import html
import re
from http import HTTPStatus

from dynlan.host._devreport import DevReport, ShownFrame

_KEYWORDS = {
    "lua": "and break do else elseif end false for function goto if in local nil not or repeat return then "
           "true until while",
    "wren": "as break class construct continue else false for foreign if import in is null return static "
            "super this true var while",
    "py": "and as assert async await break class continue def del elif else except False finally for from "
          "global if import in is lambda None nonlocal not or pass raise return True try while with yield",
    "php": "abstract and array as break callable case catch class clone const continue declare default do "
           "echo else elseif empty enddeclare endfor endforeach endif endswitch endwhile extends final "
           "finally fn for foreach function global goto if implements include include_once instanceof "
           "insteadof interface isset list match namespace new null or print private protected public "
           "readonly require require_once return static switch throw trait true false try unset use var "
           "while yield",
    "jinja": "and block else elif endblock endfor endif endmacro extends for from if import in include is "
             "macro not or set with endwith true false none",
}
_COMMENTS = {
    "lua": r"--\[\[.*?(?:\]\]|$)|--[^\n]*",
    "wren": r"//[^\n]*|/\*.*?(?:\*/|$)",
    "py": r"#[^\n]*",
    "php": r"//[^\n]*|#[^\n]*|/\*.*?(?:\*/|$)",
    "jinja": r"\{#.*?(?:#\}|$)",
}
_LEXERS: dict[str, re.Pattern[str]] = {}


def _lexer(language: str) -> re.Pattern[str]:
    lexer = _LEXERS.get(language)
    if lexer is None:
        keywords = "|".join(_KEYWORDS.get(language, "").split())
        parts = [
            rf"(?P<c>{_COMMENTS.get(language, r'(?!x)x')})",
            r"""(?P<s>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)""",
            r"(?P<n>\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b|\b0x[0-9a-fA-F]+\b)",
        ]
        if keywords:
            parts.append(rf"(?P<k>\b(?:{keywords})\b)")
        parts.append(r"(?P<v>\$\w+)" if language == "php" else r"(?P<v>(?!x)x)")
        parts.append(r"(?P<f>\b[A-Za-z_]\w*(?=\s*\())")
        lexer = _LEXERS[language] = re.compile("|".join(parts))
    return lexer


def highlight(language: str, line: str) -> str:
    """One line of source as HTML, its tokens in spans (a line-by-line lexer: good enough for an excerpt)."""
    out: list[str] = []
    pos = 0
    for m in _lexer(language).finditer(line):
        out.append(html.escape(line[pos:m.start()]))
        out.append(f'<span class="t{m.lastgroup}">{html.escape(m.group())}</span>')
        pos = m.end()
    out.append(html.escape(line[pos:]))
    return "".join(out)


_STYLE = """
:root{color-scheme:light;--bg:#f6f7f9;--fg:#1d2330;--mute:#6b7385;--line:#e2e5ea;--card:#fff;
--red:#c62839;--redbg:#fdecee;--mark:#fff5d6;--markbar:#e3a008;--code:#0f1520}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:var(--card);border-bottom:1px solid var(--line);border-top:6px solid var(--red);
padding:22px 32px 20px}
.status{display:inline-block;font-weight:600;font-size:12px;letter-spacing:.06em;text-transform:uppercase;
color:var(--red);background:var(--redbg);border-radius:4px;padding:2px 8px;margin-right:8px}
.where{color:var(--mute);font-size:13px}
h1{margin:10px 0 4px;font-size:22px;line-height:1.3;font-weight:600;word-break:break-word}
h1 .kind{color:var(--red)}
main{padding:20px 32px 40px;max-width:1180px}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.07em;color:var(--mute);margin:26px 0 10px}
.frame{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 14px;overflow:hidden}
.frame .head{padding:8px 14px;border-bottom:1px solid var(--line);font-size:14px;display:flex;gap:10px;
align-items:baseline}
.frame .file{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-weight:600}
.frame .fn{color:var(--mute);font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.frame .n{margin-left:auto;color:var(--mute);font-size:12px}
.frame .note{padding:6px 14px;border-bottom:1px solid var(--line);color:var(--red);font-size:13.5px;
background:var(--redbg)}
.frame.first{border-color:#f0b4bb;box-shadow:0 1px 3px rgba(198,40,57,.12)}
table.src{border-collapse:collapse;width:100%;font:13px/1.6 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
table.src td{padding:0 12px;white-space:pre;vertical-align:top}
table.src td.ln{width:1%;text-align:right;color:#9aa1b0;user-select:none;border-right:1px solid var(--line)}
table.src tr.hit td{background:var(--mark)}
table.src tr.hit td.ln{color:var(--fg);font-weight:700;box-shadow:inset 4px 0 var(--markbar)}
.tc{color:#6a737d;font-style:italic}.ts{color:#0a7d32}.tn{color:#b15c00}.tk{color:#8a2be2;font-weight:600}
.tv{color:#1f5fbf}.tf{color:#005cc5}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:4px 0}
table.kv{border-collapse:collapse;width:100%;font-size:13px}
table.kv th{text-align:left;font-weight:500;color:var(--mute);padding:4px 14px;width:34%;vertical-align:top;
white-space:nowrap}
table.kv td{padding:4px 14px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
table.kv td .of{color:var(--mute);white-space:nowrap}table.kv td .na{color:var(--mute);font-family:system-ui,sans-serif}
table.kv tr+tr th,table.kv tr+tr td{border-top:1px solid var(--line)}
.none{color:var(--mute);padding:6px 14px;font-size:13px}
.bar{height:6px;background:var(--line);border-radius:3px;overflow:hidden;margin-top:3px}
.bar i{display:block;height:100%;background:#3b82f6}
details{margin-top:8px}summary{cursor:pointer;color:var(--mute);font-size:13px}
pre.trace{background:var(--code);color:#e6e9ef;border-radius:8px;padding:14px 16px;overflow:auto;
font:12.5px/1.55 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
footer{color:var(--mute);font-size:12px;margin-top:28px}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
@media (max-width:800px){.grid{grid-template-columns:1fr}main,header{padding-left:16px;padding-right:16px}}
"""


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"


def _frame(language: str, frame: ShownFrame, index: int) -> str:
    fn = f'<span class="fn">in {html.escape(frame.function)}</span>' if frame.function else ""
    note = f'<div class="note">{html.escape(frame.message)}</div>' if frame.message else ""
    head = (f'<div class="head"><span class="file">{html.escape(frame.file)}, line {frame.line}</span>{fn}'
            f'<span class="n">{"where it failed" if index == 0 else "caller"}</span></div>{note}')
    if not frame.excerpt:
        return f'<section class="frame{" first" if index == 0 else ""}">{head}</section>'
    rows = "".join(
        f'<tr{" class=hit" if n == frame.line else ""}><td class=ln>{n}</td>'
        f'<td>{highlight(language, text)}</td></tr>'
        for n, text in frame.excerpt
    )
    return f'<section class="frame{" first" if index == 0 else ""}">{head}<table class=src>{rows}</table></section>'


def _kv(rows: tuple[tuple[str, str], ...] | list[tuple[str, str]], empty: str) -> str:
    if not rows:
        return f'<div class="none">{html.escape(empty)}</div>'
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _budget(report: DevReport) -> str:
    rows = []
    for use in report.budget:
        used = html.escape(use.used) if use.used else "<span class=na>not measured by this runtime</span>"
        rows.append(f"<tr><th>{html.escape(use.name)}</th><td>{used} "
                    f"<span class=of>of {html.escape(use.limit)}</span></td></tr>")
    return f'<table class="kv">{"".join(rows)}</table>'


def render_report(report: DevReport) -> bytes:
    """The dev error page of a failed page."""
    status, phrase = report.status, _phrase(report.status)
    frames = "".join(_frame(report.language, f, i) for i, f in enumerate(report.frames))
    if not frames:
        frames = '<div class="card"><div class="none">No frame in the site\'s own files.</div></div>'
    request = [("method", report.method), ("path", report.path), ("page", report.page)]
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(report.kind)}: {html.escape(report.message[:120])}</title>"
        f"<style>{_STYLE}</style></head><body>"
        f'<header><span class="status">{status} {html.escape(phrase)}</span>'
        f'<span class="where">{html.escape(report.method)} {html.escape(report.path)} · '
        f'<code>{html.escape(report.page)}</code></span>'
        f'<h1 id="error"><span class="kind">{html.escape(report.kind)}</span>: {html.escape(report.message)}</h1>'
        "</header><main>"
        f'<h2>Stack, innermost first</h2><div id="frames">{frames}</div>'
        '<div class="grid"><div>'
        f'<h2>Request</h2><div class="card" id="request">{_kv(request, "")}</div>'
        f'<h2>Query</h2><div class="card" id="query">{_kv(report.query, "no query")}</div>'
        f'<h2>Route parameters</h2><div class="card" id="params">{_kv(report.params, "no route parameter")}</div>'
        "</div><div>"
        f'<h2>Budget used</h2><div class="card" id="budget">{_budget(report)}</div>'
        f'<h2>Headers</h2><div class="card" id="headers">{_kv(report.headers, "no header")}</div>'
        "</div></div>"
        f'<footer><span id="request-id">request id {html.escape(report.request_id)}</span> · '
        "shown because the server runs with <code>--dev</code>; without it the server log alone has this"
        "</footer></main></body></html>\n"
    )
    return page.encode()


def render_host_error(status: int, message: str, request_id: str, trace: str) -> bytes:
    """The dev error page of a failure in the server itself (not in a page): its traceback."""
    phrase = _phrase(status)
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{status} {html.escape(phrase)}</title><style>{_STYLE}</style></head><body>"
        f'<header><span class="status">{status} {html.escape(phrase)}</span>'
        f'<h1><span class="kind">server error</span>: {html.escape(message)}</h1></header><main>'
        f'<h2>Server traceback</h2><pre class="trace">{html.escape(trace)}</pre>'
        f'<footer><span id="request-id">request id {html.escape(request_id)}</span> · '
        "shown because the server runs with <code>--dev</code></footer></main></body></html>\n"
    )
    return page.encode()
