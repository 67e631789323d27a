"""junit.xml: one testcase per case x model, so CI systems list failures natively."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from llmops_cli.document import CaseResult, Document

# Everything XML 1.0 forbids (its Char production): most C0 controls, lone surrogates, U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render(document: Document) -> str:
    """One <testsuite> per suite x prompt x model, one <testcase> per case, plus one `.gate` testcase per
    breached threshold; every count attribute matches the elements it counts."""
    root = ET.Element("testsuites", name="llmops", id=_clean(document.run.id))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for group in document.groups:
        cases = group.cases
        suite = ET.SubElement(root, "testsuite", name=_clean(f"{group.suite}/{group.prompt}@{group.model}"))
        tests = len(cases)
        failures = errors = 0
        elapsed = 0.0
        for case in cases:
            elapsed += _time(case)
            element = ET.SubElement(suite, "testcase", classname=_clean(f"{group.suite}.{group.model}"),
                                    name=_clean(case.case_id), time=f"{_time(case):.3f}")
            run_errors = [r for r in case.runs if r.error]
            if run_errors:
                errors += 1
                ET.SubElement(element, "error", type=_clean(run_errors[0].error_class or "error"),
                              message=_clean(run_errors[0].error or "")[:500])
            elif not case.passed:
                failures += 1
                failed = [a for r in case.runs for a in r.assertions if not a.passed]
                message = "; ".join(f"{a.type}: {a.message}" for a in failed[:3]) or "failed"
                node = ET.SubElement(element, "failure", type="assertion", message=_clean(message)[:500])
                node.text = _clean(next((r.output for r in case.runs if not r.passed), None)
                                   or case.runs[0].output or "")[:4000]
        for threshold in group.thresholds:
            if threshold.passed is False:
                tests += 1
                failures += 1
                element = ET.SubElement(suite, "testcase", classname=_clean(f"{group.suite}.{group.model}.gate"),
                                        name=f"{threshold.metric} {threshold.bound}", time="0.000")
                ET.SubElement(element, "failure", type="threshold",
                              message=_clean(f"{threshold.metric}={threshold.value} breaks {threshold.bound} "
                                             f"{threshold.limit}" + (f": {threshold.note}" if threshold.note
                                                                     else ""))[:500])
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("time", f"{elapsed:.3f}")
        totals["tests"] += tests
        totals["failures"] += failures
        totals["errors"] += errors
    for key, value in totals.items():
        root.set(key, str(value))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _time(case: CaseResult) -> float:
    return sum(r.latency_s or 0.0 for r in case.runs)


def _clean(text: str) -> str:
    """XML 1.0 cannot carry these at all (not even as character references), and ids, names and model
    output sometimes hold them: dropped, so every junit.xml parses."""
    return _NOT_XML.sub("", text)
