"""``tiny-interp attention-why``: the text table, the JSON contract (sum of pairs + rest == score, input_ids), the
HTML page, and one-line refusals (a user's file, a key outside the window)."""

from __future__ import annotations

import json
from pathlib import Path

from tiny_interp.cli import main
from tiny_interp.model.checkpoint import load_tokenizer

MODEL = Path(__file__).resolve().parents[1] / "trained_models" / "ts-1M-neo"
PROMPT = "Once upon a time, Tom and Lily went to the park. Tom saw a big dog. Lily said"


def test_json_contract_text_and_html(tmp_path, capsys):
    js, page = tmp_path / "why.json", tmp_path / "why.html"
    argv = [str(MODEL), "--prompt", PROMPT, "--layer", "5", "--head", "3", "--query", "-1", "--key", "9"]
    argv += ["--transcoders", str(MODEL / "saes"), "--json", str(js), "--html", str(page), "--top", "8"]
    assert main(["attention-why", *argv]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Head L5H3 at ") and "= the model's score" in out
    data = json.loads(js.read_text())
    assert {"score", "pairs", "rest", "query_marginals", "key_marginals", "input_ids"} <= set(data)
    assert len(data["pairs"]) == 8 and all({"query", "key", "value"} <= set(p) for p in data["pairs"])
    assert abs(sum(p["value"] for p in data["pairs"]) + data["rest"] - data["score"]) < 1e-4
    assert abs(sum(t["value"] for t in data["key_marginals"]) - data["score"]) < 1e-4
    ids = load_tokenizer(MODEL)(PROMPT, add_special_tokens=False)["input_ids"]
    assert data["input_ids"][1:] == ids and data["query"] == len(ids) and data["key"] == 9
    assert "/work" not in js.read_text() and data["model"] == "ts-1M-neo"
    html = page.read_text()
    assert 'data-tiny-interp="attention-why"' in html and "<script" not in html and "= the model" in html
    assert main(["attention-why", *argv]) == 0  # its own earlier output may be replaced


def test_refusals_are_one_line(tmp_path, capsys):
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": true}')
    base = [str(MODEL), "--prompt", PROMPT, "--layer", "1", "--head", "0"]
    assert main(["attention-why", *base, "--json", str(mine)]) == 2
    assert mine.read_text() == '{"mine": true}'
    assert main(["attention-why", *base, "--key", "40"]) == 2
    assert main(["attention-why", *base[:-2], "--head", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "not written by tiny-interp attention-why" in err[0] and "outside" in err[1] and "head 99" in err[2]
