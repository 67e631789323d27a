"""report.html of `llmops rerun`: the same content as report.md on one self-contained page.

Rendered from templates/rerun.html with autoescape on (report/page.py): every value from the
document is escaped on output. The page has no script and a Content-Security-Policy that allows
none, nor any fetch.
"""

from __future__ import annotations

import functools

from jinja2 import Template

from llmops_cli.report import fmt
from llmops_cli.report.html import VERDICT, csp
from llmops_cli.report.page import environment
from llmops_cli.report.rerun_markdown import MAX_LISTED
from llmops_cli.rerun_document import RerunDocument

TRIM = 4000
MODES = (("rendered", "Rendered with the prompt"), ("as_logged", "Replayed as logged (no variables)"))


def render(doc: RerunDocument) -> str:
    traces = doc.traces
    return _template().render(
        doc=doc, gate=doc.gate, csp=csp(None), verdicts=VERDICT, sample=format(doc.run.sample, "g"),
        changed=[r for r in traces if not r.agreed and r.error is None],
        errors=[r for r in traces if r.error is not None],
        modes=[(label, [r.id for r in traces if r.mode == mode]) for mode, label in MODES])


@functools.cache
def _template() -> Template:
    """Compiled on first use: a run that writes no HTML does not pay for it."""
    return environment(TRIM=TRIM, MAX_LISTED=MAX_LISTED, interval=fmt.interval).get_template("rerun.html")
