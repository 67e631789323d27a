"""junit.xml: one testcase per case x model, so CI systems list failures natively."""

from __future__ import annotations

from typing import Any, Mapping
from xml.etree import ElementTree as ET


def render(document: Mapping[str, Any]) -> str:
    root = ET.Element("testsuites", name="llmops", id=str(document["run"]["id"]))
    for group in document["groups"]:
        cases = group["cases"]
        suite = ET.SubElement(root, "testsuite", name=f"{group['suite']}/{group['prompt']}@{group['model']}",
                              tests=str(len(cases)))
        failures = errors = 0
        for case in cases:
            element = ET.SubElement(suite, "testcase", classname=f"{group['suite']}.{group['model']}",
                                    name=case["case_id"], time=f"{_time(case):.3f}")
            run_errors = [r for r in case["runs"] if r["error"]]
            if run_errors:
                errors += 1
                ET.SubElement(element, "error", type=run_errors[0]["error_class"] or "error",
                              message=_clean(run_errors[0]["error"] or "")[:500])
            elif not case["passed"]:
                failures += 1
                failed = [a for r in case["runs"] for a in r["assertions"] if not a["passed"]]
                message = "; ".join(f"{a['type']}: {a['message']}" for a in failed[:3]) or "failed"
                node = ET.SubElement(element, "failure", type="assertion", message=_clean(message)[:500])
                node.text = _clean(case["runs"][0]["output"] or "")[:4000]
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        for threshold in group["thresholds"]:
            if threshold["passed"] is False:
                element = ET.SubElement(suite, "testcase", classname=f"{group['suite']}.{group['model']}.gate",
                                        name=f"{threshold['metric']} {threshold['bound']}")
                ET.SubElement(element, "failure", type="threshold",
                              message=f"{threshold['metric']}={threshold['value']} limit {threshold['limit']}")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _time(case: Mapping[str, Any]) -> float:
    return sum(r["latency_s"] or 0.0 for r in case["runs"])


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters; model output sometimes has them."""
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)
