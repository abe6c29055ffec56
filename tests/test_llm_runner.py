"""The shared LLM runner against a real OpenAI-compatible HTTP server on loopback, through the real openai client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from llm_stub import ScriptByItem, StubServer, last_text

from tiny_interp.errors import ConfigError
from tiny_interp.llm.records import iter_records, latest_records
from tiny_interp.llm.runner import LLMItem, RunnerConfig, retry_after_s, run_items

KEY = "sk-test-SECRET-7f3a9c2e51"
REPO = Path(__file__).resolve().parents[1]


def items(keys: list[str]) -> list[LLMItem]:
    return [
        LLMItem(id=k, messages=[{"role": "user", "content": f"Tell me something. ITEM:{k}"}], meta={"k": k})
        for k in keys
    ]


def cfg(server: StubServer, **kw) -> RunnerConfig:
    base = dict(
        model="stub-model",
        base_url=server.base_url,
        concurrency=4,
        # well under the slow behaviours (3 s) and well over a loopback answer on a loaded 2-core machine (at 0.5 s a
        # CI run saw an ordinary request time out before the stub server read it)
        timeout_s=1.0,
        max_attempts=3,
        backoff_base_s=0.01,
        backoff_max_s=0.5,
        jitter_seed=0,
        fsync=False,
    )
    base.update(kw)
    return RunnerConfig(**base)


def all_text_under(d: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in d.rglob("*") if p.is_file())


PLAN = {
    "ok1": [],
    "ok2": [],
    "rl": [("429", 0.2)],  # Retry-After longer than our own backoff: must be honoured
    "err": [("500", None), ("500", None)],
    "slow": [("slow", 3.0)],
    "bad": [("malformed", None)],
    "cut": [("cut", None)],
    "trunc": [("length", "Once upon a time there was a")],
    "dead500": [("500", None)] * 3,
    "deadrl": [("429", 0.01)] * 3,
    "deadslow": [("slow", 3.0)] * 3,
    "leak": [("400", f"bad key {KEY} rejected")],
}
EXPECT_FAILED = {
    "trunc": "truncated",
    "dead500": "server_error",
    "deadrl": "rate_limit",
    "deadslow": "timeout",
    "leak": "client_error_400",
}


def test_every_item_ends_once_then_rerun_finishes_failed_only(tmp_path, capfd):
    out = tmp_path / "out.jsonl"
    keys = list(PLAN)
    echo = lambda key, body: f"The answer for {key}." + (f" (I saw {KEY})" if key == "ok2" else "")  # noqa: E731
    with StubServer(ScriptByItem(PLAN, echo)) as server:
        s = run_items(items(keys), out, cfg(server), api_key=KEY, progress=True)
        first = list(server.requests)
    recs = list(iter_records(out))
    assert Counter(r["id"] for r in recs) == Counter(keys)  # exactly one record per item
    by_id = {r["id"]: r for r in recs}
    for k in keys:
        if k in EXPECT_FAILED:
            assert by_id[k]["status"] == "failed" and by_id[k]["cause"] == EXPECT_FAILED[k], by_id[k]
        else:
            assert by_id[k]["status"] == "done", by_id[k]
            assert by_id[k]["result"]["text"].startswith(f"The answer for {k}.")
    assert by_id["trunc"]["raw"] == "Once upon a time there was a"  # failures keep what the endpoint said
    assert by_id["err"]["attempts"] == 3 and by_id["dead500"]["attempts"] == 3
    assert s.completed == len(keys) - len(EXPECT_FAILED) and s.failed == len(EXPECT_FAILED)
    assert s.failures_by_cause == dict(Counter(EXPECT_FAILED.values()))
    assert s.retries_by_cause["server_error"] == 2 + 2 and s.retries_by_cause["timeout"] >= 1 + 2
    assert s.requests == len(first)
    assert all(r["auth"] == f"Bearer {KEY}" for r in first)  # the key was really used ...
    # Retry-After: the retry of "rl" came no sooner than the server asked
    rl = [r["t"] for r in first if "ITEM:rl" in last_text(r["body"])]
    assert len(rl) == 2 and rl[1] - rl[0] >= 0.2

    # rerun against a healthy server: only the failed items are asked again, and all end done
    with StubServer(ScriptByItem({})) as server:
        s2 = run_items(items(keys), out, cfg(server), api_key=KEY, progress=False)
        second = [last_text(r["body"]).split("ITEM:")[1] for r in server.requests]
    assert sorted(second) == sorted(EXPECT_FAILED)
    assert s2.already_done == len(keys) - len(EXPECT_FAILED) and s2.completed == len(EXPECT_FAILED)
    latest = latest_records(out)
    assert all(r["status"] == "done" for r in latest.values()) and set(latest) == set(keys)
    done_lines = Counter(r["id"] for r in iter_records(out) if r["status"] == "done")
    assert max(done_lines.values()) == 1  # nothing done is written twice

    # ... and never written: not in records, logs, config, summary, stdout or stderr
    captured = capfd.readouterr()
    assert KEY not in all_text_under(tmp_path) + captured.out + captured.err
    assert "[REDACTED]" in out.read_text()
    assert {p.name for p in tmp_path.iterdir()} >= {
        "out.jsonl",
        "out.jsonl.runner.json",
        "out.jsonl.summary.json",
        "out.jsonl.log",
    }
    assert "failed" in (tmp_path / "out.jsonl.log").read_text()


def test_budget_caps_stop_requests_and_record_the_cap(tmp_path):
    out = tmp_path / "capped.jsonl"
    with StubServer(ScriptByItem({})) as server:
        s = run_items(
            items([f"k{i}" for i in range(6)]),
            out,
            cfg(server, concurrency=1, max_requests=3),
            api_key=KEY,
            progress=False,
        )
        assert len(server.requests) == 3
    assert s.completed == 3 and s.failures_by_cause == {"cap_requests": 3}
    # cost cap: each stub answer costs 10 prompt tokens at $1e5/1M = $1; a $2 cap allows two requests
    out2 = tmp_path / "cost.jsonl"
    with StubServer(ScriptByItem({})) as server:
        s = run_items(
            items([f"k{i}" for i in range(5)]),
            out2,
            cfg(server, concurrency=1, max_cost_usd=2.0, price_input_per_1m=1e5),
            api_key=KEY,
            progress=False,
        )
        assert len(server.requests) == 2
    assert s.completed == 2 and s.failures_by_cause == {"cap_cost": 3} and s.cost_usd == pytest.approx(2.0)


def test_client_errors_are_not_retried_and_auth_errors_stop_the_run(tmp_path):
    with StubServer(ScriptByItem({f"k{i}": [("400", "nope")] for i in range(4)})) as server:
        s = run_items(
            items([f"k{i}" for i in range(4)]),
            tmp_path / "a.jsonl",
            cfg(server, concurrency=1),
            api_key=KEY,
            progress=False,
        )
        assert len(server.requests) == 4  # a 400 belongs to its item: each is tried once, none retried
    assert s.failures_by_cause == {"client_error_400": 4}
    with StubServer(lambda body, n: ("status", 401)) as server:
        s = run_items(
            items([f"k{i}" for i in range(4)]),
            tmp_path / "b.jsonl",
            cfg(server, concurrency=1),
            api_key=KEY,
            progress=False,
        )
        assert len(server.requests) == 1  # a bad key fails every item alike: stop asking
    assert s.failures_by_cause == {"auth": 1, "aborted_auth": 3}


def test_config_rejects_bad_values_and_needs_a_key(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="concurrency"):
        RunnerConfig(model="m", concurrency=0)
    with pytest.raises(ConfigError, match="unique"):
        run_items(
            items(["a", "a"]),
            tmp_path / "x.jsonl",
            RunnerConfig(model="m", base_url="http://127.0.0.1:9"),
            progress=False,
        )
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        run_items(items(["a"]), tmp_path / "y.jsonl", RunnerConfig(model="m"), progress=False)


def test_retry_after_parsing():
    class R:
        def __init__(self, h):
            self.headers = h

    class E(Exception):
        def __init__(self, h):
            self.response = R(h)

    assert retry_after_s(E({"retry-after": "3"})) == 3.0
    assert retry_after_s(E({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_after_s(E({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # a date in the past
    assert retry_after_s(E({})) is None and retry_after_s(ValueError()) is None


def test_a_kill_mid_run_loses_nothing_answered(tmp_path):
    """Run ``tiny-interp synth`` in a subprocess, SIGKILL it mid-run, then rerun it to completion."""
    out = tmp_path / "stories.jsonl"
    n_items, answered_before_kill = 24, 7

    def story(body):
        return "Once upon a time a dog saw a red ball. He was happy.\n\nThe end."

    def first_script(body, n):
        return ("ok", story(body)) if n < answered_before_kill else ("hang", None)

    env = {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_BASE_URL", None)

    def cmd(base_url):
        return [
            sys.executable,
            "-m",
            "tiny_interp.cli",
            "synth",
            "--n",
            str(n_items),
            "--out",
            str(out),
            "--base-url",
            base_url,
            "--model",
            "stub-model",
            "--concurrency",
            "2",
            "--timeout",
            "30",
        ]

    with StubServer(first_script) as server:
        proc = subprocess.Popen(cmd(server.base_url), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = [r for r in iter_records(out) if r.get("status") == "done"] if out.exists() else []
            if len(done) >= answered_before_kill and len(server.requests) >= answered_before_kill + 2:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=30)
        asked_first = [last_text(r["body"]) for r in server.requests]
    assert proc.returncode == -signal.SIGKILL
    kept = latest_records(out)
    assert len(kept) == answered_before_kill and all(r["status"] == "done" for r in kept.values())
    kept_prompts = {r["meta"]["prompt"] for r in kept.values()}
    assert len(kept_prompts) == answered_before_kill and kept_prompts <= set(asked_first)

    with StubServer(lambda body, n: ("ok", story(body))) as server:
        res = subprocess.run(cmd(server.base_url), env=env, capture_output=True, text=True, timeout=120)
        asked_second = [last_text(r["body"]) for r in server.requests]
    assert res.returncode == 0, res.stderr
    assert not kept_prompts & set(asked_second)  # nothing answered before the kill is asked again
    assert len(asked_second) == n_items - answered_before_kill
    final = latest_records(out)
    assert len(final) == n_items and all(r["status"] == "done" for r in final.values())
    for rid, r in kept.items():
        assert final[rid] == r  # the pre-kill records stand untouched
    leaks = all_text_under(tmp_path) + stdout.decode() + stderr.decode() + res.stdout + res.stderr
    assert KEY not in leaks
    rec = next(iter(final.values()))["result"]
    assert set(rec) >= {"story", "instruction", "summary", "source"} and rec["source"] == "stub-model"
    assert json.loads((tmp_path / "stories.jsonl.runner.json").read_text())["model"] == "stub-model"
