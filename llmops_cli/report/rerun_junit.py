"""junit.xml of `llmops rerun`: one testcase per replayed trace (a changed answer fails, a failed
call errors), one skipped testcase per unusable trace, one `.gate` testcase per broken bound."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from llmops_cli.report.junit import _clean
from llmops_cli.rerun_document import RerunDocument


def render(document: RerunDocument) -> str:
    run = document.run
    root = ET.Element("testsuites", name="llmops rerun", id=str(run.id))
    classname = f"rerun.{run.prompt}.{run.model}"
    suite = ET.SubElement(root, "testsuite", name=f"rerun/{run.prompt}@{run.model}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for row in document.traces:
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname=classname, name=_clean(str(row.id)), time="0.000")
        if row.error is not None:
            counts["errors"] += 1
            ET.SubElement(case, "error", type=row.error_class or "error", message=_clean(row.error)[:500])
        elif not row.agreed:
            counts["failures"] += 1
            node = ET.SubElement(case, "failure", type="changed",
                                 message=_clean(f"the answer changed (similarity {row.similarity:.3f})")[:500])
            node.text = _clean(f"logged:\n{row.logged_output}\n\nnew:\n{row.new_output}")[:8000]
    for item in document.skipped:
        counts["tests"] += 1
        counts["skipped"] += 1
        case = ET.SubElement(suite, "testcase", classname=classname, name=_clean(str(item.id or item.position)),
                             time="0.000")
        ET.SubElement(case, "skipped", message=_clean(f"{item.position}: {item.reason}")[:500])
    for bound in document.gate.thresholds:
        if not bound.passed:
            counts["tests"] += 1
            counts["failures"] += 1
            case = ET.SubElement(suite, "testcase", classname=classname + ".gate", name=bound.key, time="0.000")
            measured = "n/a" if bound.value is None else f"{bound.value:.4f}"
            ET.SubElement(case, "failure", type="threshold",
                          message=_clean(f"{bound.metric}={measured} breaks {bound.key} {bound.limit}"
                                         + (f": {bound.note}" if bound.note else ""))[:500])
    for key, value in counts.items():
        suite.set(key, str(value))
        if key != "skipped":
            root.set(key, str(value))
    suite.set("time", "0.000")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
