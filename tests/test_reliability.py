"""Crash safety and redaction: kill -9 at random points loses and repeats nothing; PII never lands in traces or reports."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKE_KEY, llmops, results_json, write_project

from llmops_cli._standin import StandinServer
from llmops_cli.config import BUILTIN_REDACTIONS, RedactRule, parse_config
from llmops_cli.errors import Problems
from llmops_cli.redact import BUILTIN_PATTERNS, Redactor

N = 40


def cases(n: int) -> str:
    return "".join(json.dumps({"id": f"c{i:02d}", "vars": {"product": "Acme", "ticket": f"Refund order {i}"},
                               "assert": [{"type": "json_field", "path": "category", "equals": "refund"}]}) + "\n"
                   for i in range(n))


def count(db_path: Path, sql: str) -> int:
    if not db_path.exists():
        return 0
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return int(db.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_kill_at_random_points_then_resume(tmp_path: Path, server: StandinServer) -> None:
    root = write_project(tmp_path / "p", server.base_url, cases=cases(N))
    db_path = root / ".llmops" / "llmops.db"
    command = [sys.executable, "-m", "llmops_cli", "eval", "--no-baseline", "--concurrency", "3"]
    server.configure(latency_ms=120)
    rng = random.Random(20261124)
    for _ in range(3):
        cached_before = count(db_path, "SELECT COUNT(*) FROM cache")
        sent_before = server.request_count
        proc = subprocess.Popen(command, cwd=root, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        target = cached_before + rng.randint(2, 8)
        deadline = time.monotonic() + 90
        while count(db_path, "SELECT COUNT(*) FROM cache") < target and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(rng.uniform(0.0, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        cached_after = count(db_path, "SELECT COUNT(*) FROM cache")
        # every request the server answered before the kill was either recorded or still in flight
        assert cached_after - cached_before <= server.request_count - sent_before
    completed = count(db_path, "SELECT COUNT(*) FROM cache")
    assert 0 < completed < N
    server.configure(latency_ms=0)
    sent = server.request_count
    run = llmops("eval", "--no-baseline", "--concurrency", "3", cwd=root)
    assert run.code == 0, run.stdout + run.stderr
    assert server.request_count - sent == N - completed, "no completed call was sent again"
    doc = results_json(root)
    assert sorted(c["case_id"] for c in doc["groups"][0]["cases"]) == [f"c{i:02d}" for i in range(N)]
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (run_id,) = db.execute("SELECT id FROM runs WHERE status = 'complete'").fetchone()
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT case_id) FROM results WHERE run_id = ?",
                          (run_id,)).fetchone() == (N, N)
        assert db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0] == 0
    finally:
        db.close()


PII = {
    "email": "jane.doe@example.com",
    "phone": "+1 415 555 0100",
    "card": "4111 1111 1111 1111",
    "secret": "sk-live-ABCDEFGHIJKLMNOPQRSTUVWX",
    "custom": "TCK-998877",
}

ECHO_PROMPT = """model: default
messages:
  - {role: user, content: "{{ ticket }}"}
"""


def test_redaction_runs_before_anything_is_written(tmp_path: Path, server: StandinServer) -> None:
    ticket = (f"{PII['email']} {PII['phone']} {PII['card']} {PII['secret']} {PII['custom']} and the key {FAKE_KEY}")
    case = {"id": "pii", "vars": {"ticket": ticket}, "assert": [{"type": "contains", "value": "Stand-in"}]}
    root = write_project(tmp_path / "p", server.base_url, prompt=ECHO_PROMPT, suite="prompt: support\n",
                         cases=json.dumps(case) + "\n",
                         config_extra='redact: [email, phone, card, secret, {name: ticket, pattern: "TCK-[0-9]+"}]\n')
    out = tmp_path / "reports"
    run = llmops("eval", "--no-baseline", "--format", "md,json,junit,html", "--out", str(out), cwd=root)
    assert run.code == 0, run.stdout + run.stderr
    doc = json.loads((out / "results.json").read_text())
    output = doc["groups"][0]["cases"][0]["runs"][0]["output"]
    assert "[email]" in output and "[ticket]" in output, output  # the model echoed them; the trace holds the mask
    db = sqlite3.connect(root / ".llmops" / "llmops.db")
    traced = " ".join(row[0] for row in db.execute("SELECT record FROM results UNION ALL SELECT o.text FROM results r"
                                                " JOIN outputs o ON o.hash = r.output_hash"))
    db.close()
    written = [traced] + [p.read_text() for p in out.iterdir()] + [run.stdout, run.stderr]
    for name, value in PII.items():
        for text in written:
            assert value not in text, f"{name} leaked"
    assert all(FAKE_KEY not in text for text in written)
    assert FAKE_KEY.encode() not in (root / ".llmops" / "llmops.db").read_bytes()
    assert "redaction on: email, phone, card, secret, ticket" in (out / "report.md").read_text()


# --- redaction rules: coverage, on by default, linear time ------------------------------------

def _aws_secret() -> str:
    return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


# (rule, text in which it must be found, substrings that must not survive)
FORMATS = [
    ("secret", "AIza" + "SyD3f9Kx2LmNpQrStUvWxYz0123456789a", None),
    ("secret", "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV", None),
    ("secret", "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5", None),
    ("secret", "gho_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5", None),
    ("secret", "AKIA" + "IOSFODNN7EXAMPLE", None),
    ("secret", "ASIA" + "Y34FZKBOKMUTVV7A", None),
    ("secret", f"aws_secret_access_key = {_aws_secret()}", [_aws_secret()]),
    ("secret", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", None),
    ("secret", "rk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", None),
    ("secret", "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567", None),
    ("secret", "gsk_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7nP9rS1tV3xZ5bD7f", None),
    ("secret", "xai-" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5kL7nP9rS1tV3xZ5bD7fH9jK1mN3pQ5sT7vW9yZ1bC3dF5h", None),
    ("secret", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
               "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", None),
    ("secret", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq98\nXz1+aB/cD==\n-----END RSA PRIVATE KEY-----",
     ["MIIEpAIBAAKCAQEA7bq98", "Xz1+aB/cD==", "PRIVATE KEY"]),
    ("secret", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut short)",
     ["b3BlbnNzaC1rZXktdjEAAAAA"]),
    ("secret", "GET https://api.example.com/v1/models?api_key=Zx81kQ93mPw7&limit=5", ["Zx81kQ93mPw7"]),
    ("secret", "https://maps.example.com/api?key=Qm9vWkZ4Y3p2&x=1", ["Qm9vWkZ4Y3p2"]),
    ("secret", "api-key: 0123456789abcdef0123456789abcdef", ["0123456789abcdef0123456789abcdef"]),
    ("secret", "Authorization: Bearer abc.DEF-ghi_jkl~mno+pqr/stu=", ["abc.DEF-ghi_jkl~mno+pqr/stu="]),
    ("email", "write to jürgen.müller@bücher.de today", ["jürgen.müller@bücher.de", "bücher.de"]),
    ("email", "用户@例子.中国", ["例子.中国"]),
    ("phone", "call +14155550100 now", ["14155550100"]),
    ("phone", "call +44 20 7946 0958 now", ["7946", "0958"]),
    ("iban", "IBAN DE89 3704 0044 0532 0130 00 please", ["3704", "0532", "0130 00"]),
    ("iban", "IBAN GB82WEST12345698765432 please", ["GB82WEST12345698765432", "12345698765432"]),
    ("ssn", "SSN 123-45-6789 on file", ["123-45-6789", "6789"]),
    ("card", "card 4111 1111 1111 1111 expires", ["4111", "1111"]),
    ("card", "card 5500-0000-0000-0004 expires", ["5500", "0004"]),
]
ALL_RULES = [RedactRule(name) for name in BUILTIN_REDACTIONS]


@pytest.mark.parametrize(("rule", "text", "gone"), FORMATS, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(FORMATS)])
def test_builtin_rules_catch_common_formats(rule: str, text: str, gone: list[str] | None) -> None:
    alone = Redactor([RedactRule(rule)] if rule != "secret" else []).text(text)  # `secret` needs no asking
    assert f"[{rule}]" in alone, alone
    for out in (alone, Redactor(ALL_RULES).text(text)):
        for fragment in gone or [text.split()[-1]]:
            assert fragment not in out, f"{fragment!r} survived: {out!r}"


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = ("Release 1.2.3 on 2024-01-15 at 10:30, commit 3f786850e387550fdab836ed7e6dc881de23001b, "
            "order total $1,234.56, ticket TCK-12, see https://example.com/docs?page=2")
    assert Redactor(ALL_RULES).text(text) == text


def test_the_secret_rule_is_on_by_default() -> None:
    problems = Problems()
    cfg = parse_config("version: 1\nmodels: {default: openai/gpt-4o-mini}\n", problems)
    assert cfg is not None and not problems
    assert "secret" in [r.name for r in cfg.redact]
    assert Redactor(cfg.redact).text("key ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5") == "key [secret]"
    cfg = parse_config("version: 1\nmodels: {default: openai/gpt-4o-mini}\nredact: [email]\n", problems)
    assert cfg is not None and [r.name for r in cfg.redact] == ["email", "secret"]


# Text built to make a backtracking regex rescan what it has read: long runs of each rule's own
# characters that never complete a match, and prefixes repeated back to back.
ADVERSARIAL = {
    "letters": "a" * 1_000_000,
    "dots": "a." * 500_000,
    "at-signs": "a@" * 500_000,
    "local-then-domain": "a" * 500_000 + "@" + "b-" * 250_000,
    "unicode": "é" * 1_000_000,
    "digits": "1" * 1_000_000,
    "spaced-digits": "1 " * 500_000,
    "dashed-digits": "12-" * 333_333,
    "plus-digits": "+1" * 500_000,
    "plus-groups": "+1 22 " * 166_666,
    "hex": "a0" * 500_000,
    "base64": "Ab1/" * 250_000,
    "sk-prefixes": "sk-" * 333_333,
    "aws-prefixes": "AKIA" * 250_000,
    "jwt-like": "eyJ" * 333_333,
    "jwt-parts": ("eyJ" + "a" * 10 + ".") * 71_428,
    "pem-no-end": "-----BEGIN RSA PRIVATE KEY-----" * 32_258,
    "pem-dashes": "-----BEGIN PRIVATE KEY-----" + "-" * 1_000_000,
    "bearer": "Bearer " * 142_857,
    "query": "?api_key=" * 111_111,
    "iban-like": "DE89" * 250_000,
    "ssn-like": "123-45-" * 142_857,
}

LINEAR_CHECK = r"""
import sys
from llmops_cli.redact import BUILTIN_PATTERNS
import re
sys.path.insert(0, sys.argv[2])
from test_reliability import ADVERSARIAL
pattern = re.compile(BUILTIN_PATTERNS[sys.argv[1]])
for name, text in ADVERSARIAL.items():
    pattern.sub("[x]", text)
print("ok")
"""


@pytest.mark.parametrize("rule", list(BUILTIN_PATTERNS))
def test_every_builtin_rule_is_linear_on_a_megabyte_of_adversarial_text(rule: str) -> None:
    # A linear rule reads these ~22 MB in a few seconds; a quadratic one needs hours. The limit is
    # a generous bound on "finishes at all", not a speed measurement.
    done = subprocess.run([sys.executable, "-c", LINEAR_CHECK, rule, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_key_learnt_during_a_run_masks_a_text_seen_before() -> None:
    """The redactor remembers texts it has redacted (a suite's system prompt recurs in every case); a key
    added later (the provider path learns the key of each model it calls) still masks them."""
    from llmops_cli.redact import Redactor

    redactor = Redactor()
    text = "answer with the code Zq9Vx7Lm2Kp4"
    assert redactor.text(text) == text
    redactor.add_secrets(["Zq9Vx7Lm2Kp4"])
    assert redactor.text(text) == "answer with the code [key]"
