"""Report formatting in one module, HTML from autoescaped templates, one registry of formats.

In-process and fast: the pages themselves are checked end to end (real eval, real Chromium) in
test_report_html.py, test_report_injection.py and test_rerun.py.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from llmops_cli.report import FORMATS, fmt
from llmops_cli.report.page import environment

PACKAGE = Path(__file__).resolve().parent.parent / "llmops_cli"
TEMPLATES = PACKAGE / "report" / "templates"


def test_figures_read_one_way() -> None:
    assert fmt.number(None) == "n/a" and fmt.number(True) == "yes" and fmt.number(0.123456) == "0.1235"
    assert fmt.number(0.5, pct=True) == "50.0%" and fmt.number(12345) == "12345"
    assert fmt.metric(None, "cost_usd") == "unknown" and fmt.metric(None, "correctness") == "n/a"
    assert fmt.metric(0.25, "correctness") == "25.0%" and fmt.metric(0.25, "latency_p95_s") == "0.25"
    assert fmt.money(None) == "unknown" and fmt.money(0.0123, 4) == "0.0123" and fmt.money(3) == "3"
    assert fmt.pct(None) == "n/a" and fmt.pct(0.9) == "90.0%" and fmt.ratio(0.9954) == "0.995"
    assert fmt.interval([0.6, 0.8]) == " (60.0%–80.0%)" and fmt.interval([None, None]) == "" and fmt.interval(None) == ""
    assert fmt.points(-0.6) == "-60.0 pts" and fmt.delta(-0.6, "correctness") == "-60.0 pts"
    assert fmt.delta(-0.6, "latency_p95_s") == "-0.6" and fmt.delta(None, "correctness") == "n/a"
    assert fmt.seconds(None) == "n/a" and fmt.seconds(1.23456) == "1.235"
    assert fmt.trim("x" * 12, 10) == "x" * 10 + "… [2 more chars in results.json]" and fmt.trim(None, 3) == ""
    assert fmt.one_line(" a\nb\t c ") == "a b c"


def test_no_formatting_helper_is_defined_outside_fmt() -> None:
    """Each figure reads through report/fmt.py: no report or command keeps a copy of its own."""
    copies = re.compile(r"(?m)^def _?(f|fe|fmt|pct|ratio|interval|points|money|trim|line|ci_text|limit_text)\(|"
                        r"lambda v: \"n/a\" if v is None|from llmops_cli\.report\.markdown import [^\n]*\b_")
    found = [f"{path.relative_to(PACKAGE)}: {m.group(0)}" for path in PACKAGE.rglob("*.py")
             if path.name != "fmt.py" for m in copies.finditer(path.read_text())]
    assert found == []


def test_html_is_escaped_by_autoescape_only() -> None:
    """No report module escapes by hand and no template marks a value safe: escaping is the environment's."""
    for path in (PACKAGE / "report").glob("*.py"):
        if path.name != "page.py":
            text = path.read_text()
            assert "html.escape" not in text and "Markup(" not in text, path.name
    templates = sorted(TEMPLATES.glob("*.html"))
    assert {p.name for p in templates} >= {"report.html", "rerun.html", "macros.html"}
    for path in templates:
        assert not re.search(r"\|\s*safe\b|autoescape\s+false", path.read_text()), path.name
    page = environment().from_string('<p title="{{ v }}">{{ v }}</p>{{ n }}')
    assert page.render(v="<b onclick='x'>\"&", n=None) == (
        '<p title="&lt;b onclick=&#x27;x&#x27;&gt;&quot;&amp;">&lt;b onclick=&#x27;x&#x27;&gt;&quot;&amp;</p>')


def test_templates_ship_as_package_data() -> None:
    """setuptools globs package-data per folder: every template must match a pattern or a wheel lacks it."""
    patterns = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {path for pattern in patterns["llmops_cli"] for path in PACKAGE.glob(pattern) if path.is_file()}
    templates = {path for path in TEMPLATES.iterdir() if path.is_file()}
    assert templates and templates <= shipped


def test_each_format_writes_both_kinds_of_document_under_one_file_name() -> None:
    assert set(FORMATS) == {"md", "json", "junit", "html"}
    files = {name: report.file for name, report in FORMATS.items()}
    assert files == {"md": "report.md", "json": "results.json", "junit": "junit.xml", "html": "report.html"}
    for name, report in FORMATS.items():  # the typed eval document and a rerun's mapping each have their writer
        assert callable(report.eval) and callable(report.rerun)
        assert (report.eval is report.rerun) == (name == "json"), "one streaming writer serves both documents"
