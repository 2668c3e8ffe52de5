"""The template engine (dynlan.templates) on its own: a site folder, its templates, names, reload, the sandbox and
the budgets. Over HTTP from every language: tests/e2e/test_templates.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dynlan.host import BudgetExceeded
from dynlan.templates import TemplateError, Templates, plain, values_of

FAR = 60.0
"""A deadline no test reaches (seconds from now)."""


def render(engine: Templates, root: Path, name: str, deadline: float = FAR, output: int = 1 << 20,
           dev: bool = False, **values: object) -> str:
    return engine.render(str(root), name, dict(values), deadline=time.monotonic() + deadline, output=output,
                         dev=dev)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "_tpl").mkdir(parents=True)
    (tmp_path / "secret.html").write_text("SECRET")
    (root / "_tpl" / "base.html").write_text("<b>{% block body %}{% endblock %}</b>")
    (root / "_tpl" / "part.html").write_text("part-1")
    (root / "_tpl" / "page.html").write_text(
        '{% extends "_tpl/base.html" %}{% block body %}{{ x }}|{% include "_tpl/part.html" %}{% endblock %}')
    return root


def test_extends_include_and_escaping(site: Path) -> None:
    assert render(Templates(), site, "_tpl/page.html", x="<i>&") == "<b>&lt;i&gt;&amp;|part-1</b>"


@pytest.mark.parametrize(("suffix", "escaped"), [("html", True), ("xml", True), ("jinja", True), ("svg", True),
                                                 ("txt", False), ("md", False), ("csv", False)])
def test_autoescape_by_suffix(site: Path, suffix: str, escaped: bool) -> None:
    (site / f"t.{suffix}").write_text("{{ x }}")
    assert render(Templates(), site, f"t.{suffix}", x="<") == ("&lt;" if escaped else "<")


@pytest.mark.parametrize("name", ["../secret.html", "_tpl/../../secret.html", "/etc/passwd", "", "_tpl\\..\\x",
                                  ".env", "_tpl/.hidden", "a\0b", "_tpl/out.html"])
def test_names_outside_the_site_are_refused(site: Path, name: str) -> None:
    os.symlink(site.parent / "secret.html", site / "_tpl" / "out.html")
    with pytest.raises(TemplateError) as caught:
        render(Templates(), site, name)
    assert "SECRET" not in str(caught.value)


def test_an_include_outside_the_site_is_refused(site: Path) -> None:
    (site / "_tpl" / "bad.html").write_text('{% include "../../secret.html" %}')
    with pytest.raises(TemplateError, match="inside the site"):
        render(Templates(), site, "_tpl/bad.html")


def test_missing_template(site: Path) -> None:
    with pytest.raises(TemplateError, match="not found: _tpl/none.html"):
        render(Templates(), site, "_tpl/none.html")


def test_edits_reach_the_template_its_parent_and_its_include(site: Path) -> None:
    engine = Templates()
    assert render(engine, site, "_tpl/page.html", x=1) == "<b>1|part-1</b>"
    (site / "_tpl" / "part.html").write_text("part-two")
    assert render(engine, site, "_tpl/page.html", x=1) == "<b>1|part-two</b>"
    (site / "_tpl" / "base.html").write_text("<i>{% block body %}{% endblock %}</i>")
    assert render(engine, site, "_tpl/page.html", x=1) == "<i>1|part-two</i>"
    (site / "_tpl" / "page.html").write_text('{% extends "_tpl/base.html" %}{% block body %}{{ x }}!{% endblock %}')
    assert render(engine, site, "_tpl/page.html", x=1) == "<i>1!</i>"


def test_compiled_once_while_unchanged(site: Path) -> None:
    engine = Templates()
    render(engine, site, "_tpl/page.html", x=1)
    env = engine.environment(str(site))
    first = env.get_template("_tpl/page.html")
    render(engine, site, "_tpl/page.html", x=2)
    assert env.get_template("_tpl/page.html") is first


@pytest.mark.parametrize("source", ["{{ ''.__class__.__mro__ }}", "{{ x.__class__.__init__.__globals__ }}",
                                    "{{ cycler.__init__.__globals__.os }}", "{{ x.append(1) }}",
                                    "{% for i in range(10**7) %}{% endfor %}", "{{ 'a' * 10**8 }}",
                                    "{{ 2 ** 100000 }}"])
def test_the_sandbox_refuses(site: Path, source: str) -> None:
    (site / "t.html").write_text(source)
    with pytest.raises(TemplateError) as caught:
        render(Templates(), site, "t.html", x=[1])
    assert "<class" not in str(caught.value) and "module" not in str(caught.value)


def test_the_deadline_ends_a_loop_without_output(site: Path) -> None:
    (site / "t.html").write_text("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as caught:
        render(Templates(), site, "t.html", deadline=0.3)
    assert caught.value.kind == "time"
    assert time.monotonic() - started < 0.3 + 5  # the deadline, and the time the check takes to come round


def test_the_output_budget(site: Path) -> None:
    (site / "t.html").write_text("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}")
    with pytest.raises(BudgetExceeded) as caught:
        render(Templates(), site, "t.html", output=10_000)
    assert caught.value.kind == "output"
    assert len(render(Templates(), site, "t.html", output=10_000_000)) == 10_000_000


def test_errors_name_the_template_file_and_line(site: Path) -> None:
    (site / "_tpl" / "syntax.html").write_text("one\ntwo\n{% if %}\n")
    (site / "_tpl" / "undefined.html").write_text("one\n{{ nothing.here() }}\n")
    (site / "outer.html").write_text('a\n{% include "_tpl/undefined.html" %}')
    engine = Templates()
    with pytest.raises(TemplateError) as caught:
        render(engine, site, "_tpl/syntax.html", dev=True)
    assert (caught.value.file, caught.value.line) == ("_tpl/syntax.html", 3)
    assert str(caught.value).startswith("template _tpl/syntax.html, line 3: ")
    assert str(caught.value).endswith("\n> 3 | {% if %}")
    with pytest.raises(TemplateError) as caught:
        render(engine, site, "outer.html")
    assert (caught.value.file, caught.value.line) == ("_tpl/undefined.html", 2)
    assert "{{" not in str(caught.value)  # no source outside --dev


def test_values_cross_as_structured_values() -> None:
    assert plain({"n": 3.0, "f": 1.5, "l": (1.0, b"x"), 1: "one"}) == {"n": 3, "f": 1.5, "l": [1, "x"], "1": "one"}
    assert values_of([]) == {} and values_of(None) == {}
    with pytest.raises(ValueError, match="map"):
        values_of([1, 2])


def test_one_environment_per_site(tmp_path: Path) -> None:
    engine = Templates()
    for n in ("a", "b"):
        (tmp_path / n).mkdir()
        (tmp_path / n / "t.html").write_text(n)
    assert render(engine, tmp_path / "a", "t.html") == "a"
    assert render(engine, tmp_path / "b", "t.html") == "b"
    with pytest.raises(TemplateError):
        render(engine, tmp_path / "a", "../b/t.html")


def test_a_template_including_itself_ends_in_an_error(site: Path) -> None:
    (site / "loop.html").write_text('x{% include "loop.html" %}')
    with pytest.raises(TemplateError, match="nested too deep"):
        render(Templates(), site, "loop.html")


def test_underscore_attributes_render_empty(site: Path) -> None:
    (site / "t.html").write_text("[{{ ''.__class__ }}][{{ x.__len__ }}]")
    assert render(Templates(), site, "t.html", x=[1]) == "[][]"
