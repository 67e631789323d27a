"""report.html: rendered from a real eval through the stand-in, then opened in real headless Chromium.

The eval runs two suites and two models at a branch against `main`: two cases regress because the
head prompt makes the stand-in answer with `<script>` and `<img onerror>` payloads that try to
write into the page, one case is fixed, one errors, one is added to the golden set. The page is
then checked statically (escaping, CSP, nothing to fetch) and in Chromium: the filter script ran,
the filters show the right rows, and no payload executed - not even one planted unescaped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import documents
import pytest
from conftest import FAKE_KEY, GIT_ENV, git, llmops

from llmops_cli._standin import StandinServer
from llmops_cli.document import Document
from llmops_cli.report import html as html_report

SCRIPT = "<script>document.body.setAttribute('data-pwned','2')</script>"
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
PROMPT = """description: Classify a support ticket
model: default
params: {{temperature: 0}}
messages:
  - {{role: system, content: "You are the support desk of {{{{ product }}}}. Classify the ticket as refund, bug or other. \
Answer in JSON with keys category and reply.{extra}\
{{% if {side}_reply is defined %}} [standin: reply={{{{ {side}_reply }}}}]{{% endif %}}"}}
  - {{role: user, content: "{{{{ ticket }}}}"}}
output:
  schema: {{type: object, required: [category, reply], \
properties: {{category: {{enum: [refund, bug, other]}}, reply: {{type: string}}}}}}
"""
FAQ_PROMPT = 'model: default\nmessages:\n  - {role: user, content: "What is the capital of {{ country }}?"}\n'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on PATH (Debian: apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _case(cid: str, ticket: str, label: str, tags: list[str], **extra: str) -> dict[str, Any]:
    return {"id": cid, "vars": {"product": "Acme", "ticket": ticket, **extra}, "tags": tags,
            "assert": [{"type": "json_field", "path": "category", "equals": label}]}


def _support_cases(added: bool) -> str:
    tickets = [("refund", "I want my money back"), ("refund", "Please refund my order"), ("bug", "The app crashes on start"),
               ("bug", "Export is broken"), ("other", "Do you have a dark mode?"), ("other", "Where is your office?")]
    cases = [_case(f"{label}-{i}", text, label, [label]) for i, (label, text) in enumerate(tickets)]
    cases += [
        _case("xss-script", "I want my money back <script>document.body.setAttribute('data-pwned','3')</script>", "refund",
              ["xss", "refund"], head_reply=SCRIPT),
        _case("xss-img", "Export is broken <img src=x onerror=\"document.body.setAttribute('data-pwned','4')\">", "bug",
              ["xss", "bug"], head_reply=IMG),
        _case("fixed-1", "Please refund my order", "refund", ["refund"],
              base_reply='{"category": "bug", "reply": "</td></tr><b>wrong</b>"}'),
        _case("err-1", "Where is your office? [standin: fault=malformed]", "other", ["other"]),
    ]
    if added:
        cases.append(_case("new-1", "My card was charged twice", "refund", ["refund", "new"]))
    return "".join(json.dumps(c) + "\n" for c in cases)


def _project(root: Path, base_url: str) -> None:
    for folder in ("prompts", "evals/support", "evals/faq"):
        (root / folder).mkdir(parents=True)
    model = f"api_base: '{base_url}', api_key_env: STANDIN_KEY"
    (root / "llmops.yaml").write_text(
        f"version: 1\nmodels:\n  default: {{model: openai/gpt-4o-mini, {model}}}\n  mini: {{model: openai/standin-1, {model}}}\n"
        "limits: {concurrency: 8, timeout_s: 5, retries: 0, max_error_rate: 0.5}\ngate: {baseline: main}\nredact: [email]\n")
    (root / "prompts/support.yaml").write_text(PROMPT.format(side="base", extra=""))
    (root / "prompts/faq.yaml").write_text(FAQ_PROMPT)
    (root / "evals/support/suite.yaml").write_text(
        "prompt: support\nmodels: [default, mini]\nassert: [{type: schema}]\n"
        "thresholds:\n  correctness: {min: 0.5, max_drop: 0.0}\n  schema_validity: {min: 1.0}\n")
    (root / "evals/support/cases.jsonl").write_text(_support_cases(added=False))
    (root / "evals/faq/suite.yaml").write_text("prompt: faq\nmodels: [default]\nthresholds:\n  correctness: {min: 0.5}\n")
    (root / "evals/faq/cases.jsonl").write_text("".join(
        json.dumps({"id": f"cap-{c}", "vars": {"country": c}, "tags": ["geo"],
                    "assert": [{"type": "contains", "value": v}]}) + "\n"
        for c, v in [("France", "Paris"), ("Japan", "Tokyo"), ("Spain", "Lyon")]))
    (root / ".gitignore").write_text(".llmops/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Add support and faq suites")
    git(root, "checkout", "-qb", "riskier-prompt")
    (root / "prompts/support.yaml").write_text(PROMPT.format(side="head", extra=" Be brief."))
    (root / "evals/support/cases.jsonl").write_text(_support_cases(added=True))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, standin: StandinServer) -> tuple[dict[str, Any], Path]:
    standin.reset()
    standin.configure(latency_ms=0, noise=0.0)
    root = tmp_path_factory.mktemp("html") / "proj"
    _project(root, standin.base_url)
    out = root.parent / "out"
    env = {"STANDIN_KEY": FAKE_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **GIT_ENV}
    run = llmops("eval", "--baseline", "main", "--format", "md,json,html", "--out", str(out), cwd=root, env=env)
    assert run.code == 1, run.stdout + run.stderr
    return json.loads((out / "results.json").read_text()), out / "report.html"


class Elements(HTMLParser):
    """The real elements and attributes of a page (escaped text is data, not elements)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.links: list[str] = []
        self.handlers: list[str] = []
        self.fetching: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            elif name == "href":
                self.links.append(value or "")
            elif name in ("src", "srcset", "action", "formaction", "poster", "data", "background", "ping"):
                self.fetching.append(f"{tag} {name}={value}")


def test_the_run_has_what_the_report_must_show(report: tuple[dict[str, Any], Path]) -> None:
    doc, _ = report
    changes = {(g["suite"], g["model"]): (sorted(r["case_id"] for r in g["regressions"]), [f["case_id"] for f in g["fixes"]])
               for g in doc["groups"]}
    assert changes == {("faq", "default"): ([], []), ("support", "default"): (["xss-img", "xss-script"], ["fixed-1"]),
                       ("support", "mini"): (["xss-img", "xss-script"], ["fixed-1"])}
    outputs = {r["output"] for g in doc["groups"] for c in g["cases"] for r in c["runs"]}
    assert SCRIPT in outputs and IMG in outputs


def test_page_is_self_contained_escaped_and_under_csp(report: tuple[dict[str, Any], Path]) -> None:
    doc, path = report
    page = path.read_text()
    assert "http://" not in page and "https://" not in page and not re.search(r"@import|url\(", page)
    elements = Elements()
    elements.feed(page)
    assert elements.tags["script"] == 1 and elements.tags["style"] == 1
    assert not {"img", "iframe", "link", "object", "embed", "base", "form", "svg", "math"} & elements.tags.keys()
    assert elements.links and all(href.startswith("#") for href in elements.links)  # only in-page anchors
    assert not elements.handlers and not elements.fetching
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp and "default-src &#x27;none&#x27;" in csp[1] and "style-src &#x27;unsafe-inline&#x27;" in csp[1]
    nonce = re.search(r"script-src &#x27;nonce-([\w-]+)&#x27;", csp[1])
    assert nonce and page.count("<script") == 1 and f'<script nonce="{nonce[1]}">' in page
    for payload in (SCRIPT, IMG, "</td></tr><b>wrong</b>"):
        assert payload not in page
    assert "&lt;script&gt;document.body.setAttribute(&#x27;data-pwned&#x27;,&#x27;2&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;document.body.setAttribute(&#x27;data-pwned&#x27;,&#x27;1&#x27;)&quot;&gt;" in page
    typed = Document.from_json(doc)
    assert html_report.render(typed) != html_report.render(typed)  # a fresh nonce each render

    text = re.sub(r"<[^>]+>", " ", page)
    assert "Gate FAILED" in text and "support x default: correctness" in page
    assert "Regressions (2): passed at base, fail now" in page and "Fixes (1): failed at base, pass now" in page
    assert page.count('class="change regression"') == 4 and page.count('class="change fix"') == 2
    assert "added: new-1" in page and "Template diff: support" in page and '<span class="add">+  - {role: system' in page
    assert "contains: output does not contain &#x27;Lyon&#x27;" in page and "malformed_response" in page
    assert "redaction on: email" in page and "95% CI" in page and "mcnemar" in page


def test_ten_thousand_passing_cases_stay_compact() -> None:
    messages = ({"role": "user", "content": "x" * 500},)
    passing = [documents.case(case_id=f"c{i}", case_hash="h", tags=("bulk",), messages=messages,
                              runs=(documents.call(output="y" * 2000),)) for i in range(10_000)]
    failing = documents.case(case_id="bad", case_hash="h", tags=("bulk",), score=0.0, passed=False, messages=messages,
                             runs=(documents.call(output="y" * 2000, passed=False, assertions=[
                                 {"type": "contains", "passed": False, "message": "no <b>"}]),))
    metrics = dict.fromkeys(("correctness", "schema_validity", "refusal_rate", "unsafe_compliance", "latency_p95_s",
                             "cost_usd", "error_rate"), 0.99) | {"cases": 10_001, "errors": 0}
    group = documents.group(suite="bulk", prompt="bulk", model="default", metrics=metrics, cases=(*passing, failing))
    page = html_report.render(documents.document(group))
    assert len(page) < 10_000 * 700  # a compact row per passing case, not its 2,000-char output
    assert page.count("<details") == 1 and "no &lt;b&gt;" in page and "no baseline" in page


# ---- real headless Chromium ----------------------------------------------------------------------

def _dump_dom(page: Path, tmp_path: Path) -> str:
    assert CHROMIUM
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile-dump'}", "--virtual-time-budget=2000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _body_tag(dom: str) -> str:
    match = re.search(r"<body[^>]*>", dom)
    assert match, dom[:500]
    return match[0]


@needs_chromium
def test_chromium_runs_the_filter_script_and_no_payload(report: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, page = report
    dom = _dump_dom(page, tmp_path)
    body = _body_tag(dom)
    assert 'data-ready="1"' in body and "data-pwned" not in body
    assert re.search(r'<span id="shown"[^>]*>25 of 25 cases shown</span>', dom)
    assert "&lt;script&gt;document.body.setAttribute" in dom


@needs_chromium
def test_csp_stops_an_escape_that_was_missed(report: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    """Plant both payloads unescaped, as a renderer bug would: the nonce script runs, they do not."""
    _, page = report
    planted = tmp_path / "planted.html"
    planted.write_text(page.read_text().replace("<body>", f"<body>{IMG}{SCRIPT}", 1))
    assert planted.read_text().count(SCRIPT) == 1
    body = _body_tag(_dump_dom(planted, tmp_path))
    assert 'data-ready="1"' in body and "data-pwned" not in body


class Browser:
    """Headless Chromium with the DevTools protocol on a free port (read from DevToolsActivePort)."""

    def __init__(self, tmp_path: Path) -> None:
        assert CHROMIUM
        profile = tmp_path / "profile-cdp"
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a stale one would name a dead port
        self.log = open(tmp_path / "chromium.log", "wb")
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                      "--window-size=1280,2000", "about:blank"], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert self.proc.poll() is None and time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Browser]:
    b = Browser(tmp_path)
    try:
        yield b
    finally:
        b.close()


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.ids = ws, 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.ids += 1
        await self.ws.send_json({"id": self.ids, "method": method, "params": params})
        async for message in self.ws:
            data = json.loads(message.data)
            if data.get("id") == self.ids:
                assert "error" not in data, data
                return data["result"]
        raise AssertionError("DevTools connection closed")

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")


WATCH = ("window.__violations=[];document.addEventListener('securitypolicyviolation',"
         "function(e){window.__violations.push(e.violatedDirective+' '+e.blockedURI);});")
FILTER = """(function(f){for(var k in f){var s=document.getElementById('f-'+k);s.value=f[k];s.dispatchEvent(new Event('change'));}
var rows=[].filter.call(document.querySelectorAll('tr[data-status]'),function(r){return r.getClientRects().length>0;});
var changes=[].filter.call(document.querySelectorAll('details.change'),function(r){return r.getClientRects().length>0;});
return {rows:rows.map(function(r){return r.dataset.suite+'/'+r.dataset.model+'/'+r.cells[0].textContent;}).sort(),
        changes:changes.length,shown:document.getElementById('shown').textContent};})(%s)"""


MATRIX = """(function(){var t=document.querySelector('table.matrix');if(!t)return null;
function row(id){return [].find.call(t.rows,function(r){return r.cells[0].textContent===id;});}
var x=row('xss-script'),d=x.cells[2].querySelector('details'),closed=!d.open;
d.open=true;var pre=d.querySelector('pre');
return {visible:t.getClientRects().length>0,heads:[].map.call(t.rows[0].cells,function(c){return c.textContent;}),
rows:t.rows.length-1,xss:[].slice.call(x.cells,1).map(function(c){return c.className;}),
err:row('err-1').cells[1].className,fixed:row('fixed-1').cells[1].className,
closed:closed,out:pre.textContent,shown:pre.getClientRects().length>0};})()"""


async def _drive(port: int, page: Path, screenshot: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
            target = next(t for t in await response.json() if t["type"] == "page")
        async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            tab = Page(ws)
            await tab.send("Page.enable")
            await tab.send("Page.addScriptToEvaluateOnNewDocument", source=WATCH)
            await tab.send("Page.navigate", url=page.as_uri())
            for _ in range(200):
                if await tab.js("!!(document.body && document.body.getAttribute('data-ready'))"):
                    break
                await asyncio.sleep(0.05)
            seen: dict[str, Any] = {"ready": await tab.js("document.body.getAttribute('data-ready')")}
            seen["pwned"] = await tab.js("[document.body.getAttribute('data-pwned'), typeof window.__pwned]")
            seen["violations"] = await tab.js("window.__violations")
            height = await tab.js("document.documentElement.scrollHeight")
            shot = await tab.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                  clip={"x": 0, "y": 0, "width": 1280, "height": min(height, 6000), "scale": 1})
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            views = {"all": {}, "faq": {"suite": "faq"}, "mini": {"suite": "", "model": "mini"},
                     "xss": {"model": "", "tag": "xss"}, "regression": {"tag": "", "status": "regression"},
                     "fix": {"status": "fix"}, "error": {"status": "error"}, "fail": {"status": "fail"},
                     "pass": {"status": "pass"}, "combined": {"suite": "support", "model": "default", "status": "regression"}}
            for name, filters in views.items():
                seen[name] = await tab.js(FILTER % json.dumps(filters))
            await tab.js(FILTER % json.dumps({"suite": "support", "model": "mini", "status": "regression"}))
            seen["boxes"] = await tab.js("[].filter.call(document.querySelectorAll('[data-box]'),function(e){return !e.hidden;})"
                                         ".map(function(e){return e.querySelector('h3').textContent;})")
            await tab.js(FILTER % json.dumps({"suite": "", "model": "", "tag": "", "status": ""}))
            seen["matrix"] = await tab.js(MATRIX)
            await tab.js(FILTER % json.dumps({"suite": "faq", "model": "", "status": ""}))
            seen["faq_sections"] = await tab.js("[].filter.call(document.querySelectorAll('[data-scope]'),"
                                                "function(e){return !e.hidden;}).map(function(e){return e.dataset.suite;})")
            return seen


@needs_chromium
def test_filters_work_in_chromium_and_nothing_injected_runs(report: tuple[dict[str, Any], Path], browser: Browser,
                                                            tmp_path: Path) -> None:
    _, page = report
    screenshot = tmp_path / "report.png"
    seen = asyncio.run(asyncio.wait_for(_drive(browser.port, page, screenshot), 60))
    assert seen["ready"] == "1"
    assert seen["pwned"] == [None, "undefined"]
    assert seen["violations"] == []  # escaping alone held: nothing even tried to run
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000

    assert len(seen["all"]["rows"]) == 25 and seen["all"]["shown"] == "25 of 25 cases shown" and seen["all"]["changes"] == 6
    assert seen["faq"]["rows"] == ["faq/default/cap-France", "faq/default/cap-Japan", "faq/default/cap-Spain"]
    assert seen["faq"]["changes"] == 0 and seen["faq"]["shown"] == "3 of 25 cases shown"
    assert len(seen["mini"]["rows"]) == 11 and all(r.startswith("support/mini/") for r in seen["mini"]["rows"])
    assert seen["xss"]["rows"] == ["support/default/xss-img", "support/default/xss-script",
                                   "support/mini/xss-img", "support/mini/xss-script"]
    assert seen["regression"]["rows"] == seen["xss"]["rows"] and seen["regression"]["changes"] == 4
    assert seen["fix"]["rows"] == ["support/default/fixed-1", "support/mini/fixed-1"] and seen["fix"]["changes"] == 2
    assert seen["error"]["rows"] == ["support/default/err-1", "support/mini/err-1"]
    assert len(seen["fail"]["rows"]) == 7 and "faq/default/cap-Spain" in seen["fail"]["rows"]
    assert len(seen["pass"]["rows"]) == 18 and not set(seen["pass"]["rows"]) & set(seen["fail"]["rows"])
    assert seen["combined"]["rows"] == ["support/default/xss-img", "support/default/xss-script"]
    assert seen["combined"]["changes"] == 2 and seen["combined"]["shown"] == "2 of 25 cases shown"
    assert seen["faq_sections"] == ["faq"]  # the support matrix hides with the rest of its suite
    matrix = seen["matrix"]  # side by side: cases as rows, prompt x model as columns, outputs on expand
    assert matrix["visible"] and matrix["heads"] == ["case", "support · default", "support · mini"]
    assert matrix["rows"] == 11 and matrix["xss"] == ["st st-fail", "st st-fail"]
    assert matrix["err"] == "st st-error" and matrix["fixed"] == "st st-pass"
    assert matrix["closed"] and matrix["shown"] and matrix["out"] == SCRIPT  # shown as text, never run
    assert seen["boxes"] == ["Regressions (2): passed at base, fail now", "Cases (11: 8 passing, 3 not)"]  # Fixes hides
