"""Synthesis, completions, teacher grading and their CLI commands, end to end against a loopback OpenAI server."""

from __future__ import annotations

import json
import math
import random
import re

import pytest
from llm_stub import StubServer, last_text

from tiny_interp.cli import main
from tiny_interp.data.stories import read_stories
from tiny_interp.lexicon import simple as words
from tiny_interp.llm.grade import GradeParseError, grade_table, mean_ci, parse_grade
from tiny_interp.llm.prompts import eval_prompts
from tiny_interp.llm.records import iter_records, latest_records
from tiny_interp.llm.synth import FEATURES, SynthConfig, build_prompt, instruct_text, sample_spec, synth_items

KEY = "sk-test-PIPELINE-0a1b2c3d"


def test_word_lists_are_simple_and_about_1500():
    allw = set(words.NOUNS) | set(words.VERBS) | set(words.ADJECTIVES)
    assert 1400 <= len(allw) <= 1700
    assert min(len(words.NOUNS), len(words.VERBS), len(words.ADJECTIVES)) >= 300
    assert all(re.fullmatch(r"[a-z]+", w) for w in allw)
    assert all(len(w) <= 11 for w in allw)  # no long words for small children


def test_required_word_check_accepts_inflections_only():
    story = "Lily jumped over the shiny rocks. She ran to her mom and felt happier. Two mice went home."
    assert words.missing_words(story, ["jump", "rock", "shiny", "run", "happy", "mouse", "go", "feel"]) == []
    assert words.missing_words(story, ["cat", "jump", "swim"]) == ["cat", "swim"]
    assert words.missing_words("The rockets flew.", ["rock"]) == ["rock"]  # a longer word is not a form


def test_synth_protocol_is_deterministic_and_follows_the_paper():
    a, b = synth_items(SynthConfig(n=40, seed=3)), synth_items(SynthConfig(n=60, seed=3))
    assert a == b[:40]  # growing n keeps the earlier items
    assert a != synth_items(SynthConfig(n=40, seed=4))
    for it in a:
        p = it.messages[0]["content"]
        assert "3 to 5 paragraphs" in p and "3-year-old" in p and "only very simple words" in p
        verb, noun, adj = it.meta["words"]
        assert verb in words.VERBS and noun in words.NOUNS and adj in words.ADJECTIVES
        assert f'"{verb}"' in p and f'"{noun}"' in p and f'"{adj}"' in p
        assert all(FEATURES[f] in p for f in it.meta["features"])
    counts = [len(it.meta["features"]) for it in synth_items(SynthConfig(n=300, seed=0, feature_prob=0.3))]
    assert 0 in counts and max(counts) >= 3  # random subsets, not a fixed set
    spec = sample_spec(random.Random(0), 1.0)
    assert spec.features == tuple(FEATURES) and all(FEATURES[f] in build_prompt(spec) for f in FEATURES)


def test_instruct_format():
    rec = {
        "story": "Tom had a red ball. He threw it high. The ball landed in a tree!",
        "summary": "Tom loses a ball.",
        "instruction": {"prompt": "p", "words": ["throw", "ball", "red"], "features": ["Dialogue", "Twist"]},
        "source": "m",
    }
    text = instruct_text(rec)
    lines = text.split("\n")
    assert lines[:4] == [
        "Summary: Tom loses a ball.",
        "Features: Dialogue, Twist",
        "Sentence: He threw it high.",
        "Words: throw, ball, red",
    ]
    assert lines[4] == "Story: " and "\n".join(lines[5:]) == rec["story"]
    seen = {tuple(l.split(":")[0] for l in instruct_text(rec, random.Random(s)).split("\n")[:-2]) for s in range(40)}
    assert len(seen) > 5 and all(s for s in seen)  # random non-empty subsets in random order


def story_for(body: dict) -> str:
    """A story using the required words when the item index is even, and none of them when it is odd."""
    p = last_text(body)
    w = re.findall(r'the (?:verb|noun|adjective) "(\w+)"', p)
    if "Summarize" in p:
        return "Summary: A child has a small adventure."
    if len(w) != 3 or hash(p) % 2:
        return "# A Title\n\nOnce upon a time a girl sat in the sun.\n\nShe smiled."
    return f"Once upon a time a girl liked to {w[0]}. She found a {w[2]} {w[1]}.\n\nShe smiled."


def test_synth_cli_end_to_end(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out, export, instruct = tmp_path / "s.jsonl", tmp_path / "data.json", tmp_path / "instruct.txt"
    with StubServer(lambda body, n: ("ok", story_for(body))) as server:
        rc = main(
            [
                "synth",
                "--n",
                "12",
                "--out",
                str(out),
                "--base-url",
                server.base_url,
                "--model",
                "teacher",
                "--summaries",
                "--export",
                str(export),
                "--instruct",
                str(instruct),
                "--no-progress",
            ]
        )
        assert rc == 0
        assert len(server.requests) == 24  # 12 stories + 12 summaries
        assert all(r["auth"] == f"Bearer {KEY}" for r in server.requests)
    recs = latest_records(out)
    assert len(recs) == 12
    for r in recs.values():
        res = r["result"]
        assert not res["story"].startswith("#")  # the chat-style title line is cleaned off
        assert res["missing_words"] == words.missing_words(res["story"], res["instruction"]["words"])
    assert {len(r["result"]["missing_words"]) for r in recs.values()} <= {0, 3}
    data = json.loads(export.read_text())
    assert len(data) == 12 and all(set(d) == {"story", "instruction", "summary", "source"} for d in data)
    assert all(set(d["instruction"]) == {"prompt", "words", "features"} for d in data)
    assert all(d["summary"] == "A child has a small adventure." and d["source"] == "teacher" for d in data)
    examples = read_stories(instruct)
    assert len(examples) == 12 and all("Story: " in e for e in examples)
    cap = capfd.readouterr()
    assert KEY not in cap.out + cap.err + "".join(p.read_text() for p in tmp_path.iterdir())


def test_eval_prompts():
    ps = eval_prompts()
    stories = [p for p in ps if p.kind == "story"]
    assert len(stories) >= 45 and len({p.id for p in ps}) == len(ps)
    cut = [p for p in stories if not p.text.rstrip().endswith((".", "!", "?", '"'))]
    assert len(cut) >= 0.7 * len(stories)  # most are cut mid-sentence
    for kind in ("knowledge", "reasoning", "context"):
        probes = [p for p in ps if p.kind == kind]
        assert len(probes) >= 5 and all(p.expected for p in probes)


def test_parse_grade_json_and_free_text():
    j = parse_grade(
        'Here you go:\n```json\n{"assessment": "Fine.", "Grammar": "9/10", "creativity": 7, '
        '"consistency": 8, "plot": 6.5, "age group": "C: 6-7"}\n```'
    )
    assert (j["grammar"], j["creativity"], j["consistency"], j["plot"], j["age_group"]) == (9, 7, 8, 6.5, "C")
    t = parse_grade(
        "The grammar is mostly fine but the plot wanders.\nGrammar: 8/10\nCreativity: 5 out of 10\n"
        "Consistency: 7/10\nPlot: 4/10\nAge group: B (4-5)"
    )
    assert (t["grammar"], t["creativity"], t["consistency"], t["plot"], t["age_group"]) == (8, 5, 7, 4, "B")
    assert t["assessment"].startswith("The grammar is mostly fine")
    for bad in [
        "I liked it a lot!",
        "Grammar: 8/10 Creativity: 6/10 Consistency: 7/10 Plot: 5/10",
        "Grammar: 12/10 Creativity: 6/10 Consistency: 7/10 Plot: 5/10 Age group: B",
        '{"grammar": 8, "creativity": 6}',
    ]:
        with pytest.raises(GradeParseError):
            parse_grade(bad)


def test_mean_ci():
    m, h = mean_ci([6.0, 8.0])
    assert m == 7.0 and h == pytest.approx(12.706 * math.sqrt(2) / math.sqrt(2))
    assert math.isnan(mean_ci([5.0])[1]) and math.isnan(mean_ci([])[0])


def grade_answer(body: dict, n: int):
    """JSON grades, free-text grades, or an unreadable answer, depending on the completion's sample number."""
    text = last_text(body)
    g = 3 + len(text) % 7
    if "response_format" in body:  # structured request: JSON
        if n % 5 == 4:
            return ("ok", "Sorry, I cannot grade this.")
        return (
            "ok",
            json.dumps(
                {"assessment": "ok", "grammar": g, "creativity": 5, "consistency": 6, "plot": 7, "age_group": "B"}
            ),
        )
    return ("ok", f"Decent.\nGrammar: {g}/10\nCreativity: 5/10\nConsistency: 6/10\nPlot: 7/10\nAge group: C")


def test_complete_then_grade_end_to_end(tmp_path, make_model_dir, monkeypatch, capfd):
    model = make_model_dir("tiny", seed=1)
    comp = tmp_path / "comp.jsonl"
    args = [
        "complete",
        str(model),
        "--out",
        str(comp),
        "--n",
        "2",
        "--max-new-tokens",
        "12",
        "--name",
        "tiny-a",
        "--seed",
        "5",
        "--no-progress",
    ]
    assert main(args) == 0
    recs = list(iter_records(comp))
    n_prompts = len(eval_prompts())
    assert len(recs) == 2 * n_prompts and len({r["id"] for r in recs}) == len(recs)
    assert recs[0]["shape"]["d_model"] > 0 and recs[0]["kind"] == "story"
    probes = [r for r in recs if r["kind"] != "story"]
    assert all(isinstance(r["probe_correct"], bool) for r in probes)
    # resume: drop the last 5 lines; a rerun writes exactly those again, with the same (seeded) text
    lines = comp.read_text().splitlines(keepends=True)
    comp.write_text("".join(lines[:-5]) + lines[-5][:20])  # and a torn last line, as after a kill
    assert main(args) == 0
    again = latest_records(comp)
    assert len(again) == 2 * n_prompts
    assert all(again[r["id"]]["completion"] == r["completion"] for r in recs)
    assert len(list(iter_records(comp))) == 2 * n_prompts  # nothing written twice

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    grades = tmp_path / "grades.jsonl"
    figures = tmp_path / "paper.json"
    shape = recs[0]["shape"]
    figures.write_text(
        json.dumps(
            [
                {
                    "d_model": shape["d_model"],
                    "n_layers": shape["n_layers"],
                    "grammar": 1.5,
                    "creativity": 2.5,
                    "consistency": 3.5,
                    "plot": 4.5,
                }
            ]
        )
    )
    with StubServer(grade_answer) as server:
        rc = main(
            [
                "grade",
                str(comp),
                "--out",
                str(grades),
                "--base-url",
                server.base_url,
                "--model",
                "teacher",
                "--paper-figures",
                str(figures),
                "--no-progress",
                "--concurrency",
                "3",
            ]
        )
        bodies = [r["body"] for r in server.requests]
    n_story = sum(r["kind"] == "story" for r in recs)
    assert len(bodies) == n_story
    assert all(b["response_format"]["type"] == "json_schema" for b in bodies)
    first = bodies[0]["messages"][-1]["content"]
    assert "***" in first and "A: 3 or under" in first and "F: 13-16" in first
    g = latest_records(grades)
    failed = [r for r in g.values() if r["status"] == "failed"]
    assert (
        rc == 1
        and failed
        and all(r["cause"] == "parse_error" and r["raw"] == "Sorry, I cannot grade this." for r in failed)
    )
    done = [r["result"] for r in g.values() if r["status"] == "done"]
    assert len(done) + len(failed) == n_story
    (row,) = grade_table(grades, paper={(shape["d_model"], shape["n_layers"]): {"grammar": 1.5}})
    assert row["n"] == len(done) and row["failed"] == len(failed)  # failures never count as zeros
    assert row["grammar"] == pytest.approx(sum(d["grammar"] for d in done) / len(done))
    assert row["grammar_ci95"] > 0 and row["plot"] == 7 and row["paper_grammar"] == 1.5
    assert row["age_groups"]["B"] == len(done)
    table = (tmp_path / "grades.jsonl.table.md").read_text()
    assert "tiny-a" in table and "1.50" in table and "4.50" in table
    assert (tmp_path / "grades.jsonl.plot.html").stat().st_size > 1000

    # rerun in free-text mode: only the failed ones are asked, and they now parse
    with StubServer(grade_answer) as server:
        rc = main(
            [
                "grade",
                str(comp),
                "--out",
                str(grades),
                "--base-url",
                server.base_url,
                "--model",
                "teacher",
                "--free-text",
                "--no-progress",
            ]
        )
        assert len(server.requests) == len(failed)
        assert all("response_format" not in r["body"] for r in server.requests)
    assert rc == 0
    g = latest_records(grades)
    assert all(r["status"] == "done" for r in g.values())
    assert {r["result"]["age_group"] for r in g.values()} == {"B", "C"}
    cap = capfd.readouterr()
    assert KEY not in cap.out + cap.err + "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
