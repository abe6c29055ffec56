"""Every bad input a user can give the commands ends in one ``error:`` line (exit code 2) that names the file or
value, with no traceback, and leaves every existing file as it was.

One table drives every command with each class of bad input: invalid UTF-8, a directory where a file belongs, a
JSONL without its fields, a wrong config.json, an unknown ``--set`` key, NaN / negative / zero numbers, a bad
``--name``, a folder the command does not own, and a ``--resume`` with nothing to resume.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import LLAMA2C
from storygen import write_txt

from tiny_interp.cli import main

W = "{w}"  # the workspace, filled in per case


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the hash of its bytes (directories by their names)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, make_model_dir, story_texts):
    w = tmp_path_factory.mktemp("bad-inputs")
    shutil.copytree(make_model_dir("tiny"), w / "model")
    write_txt(w / "stories.txt", story_texts[:30])
    (w / "bad-utf8.txt").write_bytes(b"Once upon a time \xff\xfe there was a cat.\n<|endoftext|>\n")
    (w / "bad-utf8.jsonl").write_bytes(b'{"id": "a", "status": "done", "prompt": "\xff"}\n')
    (w / "a-dir").mkdir()
    (w / "a-dir" / "keep.txt").write_text("the user's file\n")
    (w / "no-fields.jsonl").write_text(json.dumps({"id": "m/story-00/0", "status": "done", "kind": "story"}) + "\n")
    (w / "completions.jsonl").write_text(
        json.dumps(
            {
                "id": "m/story-00/0",
                "status": "done",
                "kind": "story",
                "model": "m",
                "prompt": "Once",
                "completion": " upon",
                "shape": {"d_model": 64, "n_layers": 8},
            }
        )
        + "\n"
    )
    (w / "figures.json").write_text('[{"d_model": 64}]')
    (w / "not-json.json").write_text("{not json")
    # a Hugging Face directory whose config.json gives a size as a string
    shutil.copytree(w / "model", w / "bad-config")
    (w / "bad-config" / "tiny_interp.json").unlink()
    (w / "bad-config" / "config.json").write_text(json.dumps({"model_type": "gpt_neo", "hidden_size": "big"}))
    # a copy of a shipped model (it has a card), and a folder of the user's own files
    shutil.copytree(w / "model", w / "root" / "shipped")
    (w / "root" / "shipped" / "card_config.json").write_text('{"name": "shipped"}')
    (w / "root" / "shipped" / "README.md").write_text("# the card\n")
    (w / "users").mkdir()
    (w / "users" / "notes.md").write_text("mine\n")
    return w


TRAIN = [
    "train",
    "--preset",
    "tiny",
    "--data",
    f"{W}/stories.txt",
    "--max-steps",
    "2",
    "--cache-dir",
    f"{W}/cache",
    "--quiet",
]
LLM = ["--model", "teacher", "--base-url", "http://127.0.0.1:9", "--no-progress"]

CASES = [
    # (id, argv, words the message must hold)
    ("generate-nan-temperature", ["generate", f"{W}/model", "--temperature", "nan"], ["--temperature", "nan"]),
    ("generate-zero-tokens", ["generate", f"{W}/model", "--max-new-tokens", "0"], ["--max-new-tokens", ">= 1"]),
    ("generate-negative-samples", ["generate", f"{W}/model", "--num-samples", "-2"], ["--num-samples", "-2"]),
    ("generate-top-p-above-1", ["generate", f"{W}/model", "--top-p", "1.5"], ["--top-p", "<= 1"]),
    ("generate-bad-device", ["generate", f"{W}/model", "--device", "gpu0"], ["--device", "gpu0"]),
    ("generate-missing-model", ["generate", f"{W}/nowhere"], ["nowhere", "does not exist"]),
    ("generate-not-a-model", ["generate", f"{W}/a-dir"], ["a-dir", "config.json"]),
    ("generate-wrong-config", ["generate", f"{W}/bad-config"], ["config.json", "hidden_size"]),
    (
        "prepare-bad-utf8",
        ["prepare", "--data", f"{W}/bad-utf8.txt", "--cache-dir", f"{W}/cache"],
        ["bad-utf8.txt", "UTF-8"],
    ),
    (
        "prepare-small-vocab",
        ["prepare", "--data", f"{W}/stories.txt", "--vocab-size", "10"],
        ["--vocab-size", ">= 258"],
    ),
    ("prepare-zero-stories", ["prepare", "--data", f"{W}/stories.txt", "--max-stories", "0"], ["--max-stories"]),
    ("train-unknown-set", [*TRAIN, "--out", f"{W}/run", "--set", "foo=1"], ["foo", "not a model config field"]),
    ("train-set-wrong-type", [*TRAIN, "--out", f"{W}/run", "--set", "n_ctx=abc"], ["n_ctx", "expected int"]),
    ("train-nan-lr", [*TRAIN, "--out", f"{W}/run", "--lr", "nan"], ["--lr", "nan"]),
    ("train-zero-batch", [*TRAIN, "--out", f"{W}/run", "--batch-size", "0"], ["--batch-size", ">= 1"]),
    ("train-negative-dropout", [*TRAIN, "--out", f"{W}/run", "--dropout", "-0.1"], ["--dropout", ">= 0"]),
    ("train-into-users-folder", [*TRAIN, "--out", f"{W}/users"], ["users", "did not write", "--force"]),
    ("train-into-shipped-model", [*TRAIN, "--out", f"{W}/root/shipped"], ["shipped", "--force"]),
    ("train-resume-nothing", [*TRAIN, "--out", f"{W}/a-dir", "--resume"], ["cannot resume", "a-dir"]),
    ("train-resume-missing", [*TRAIN, "--out", f"{W}/nowhere", "--resume"], ["cannot resume", "does not exist"]),
    ("synth-zero-n", ["synth", "--n", "0", "--out", f"{W}/s.jsonl", *LLM], ["--n", ">= 1"]),
    (
        "synth-feature-prob",
        ["synth", "--n", "3", "--out", f"{W}/s.jsonl", "--feature-prob", "2", *LLM],
        ["--feature-prob", "<= 1"],
    ),
    ("synth-negative-cost", ["synth", "--n", "3", "--out", f"{W}/s.jsonl", "--max-cost", "-1", *LLM], ["--max-cost"]),
    ("complete-zero-n", ["complete", f"{W}/model", "--out", f"{W}/c.jsonl", "--n", "0"], ["--n", ">= 1"]),
    (
        "complete-negative-temperature",
        ["complete", f"{W}/model", "--out", f"{W}/c.jsonl", "--temperature", "-1"],
        ["--temperature"],
    ),
    ("complete-unknown-kind", ["complete", f"{W}/model", "--out", f"{W}/c.jsonl", "--kinds", "poems"], ["poems"]),
    ("grade-bad-utf8", ["grade", f"{W}/bad-utf8.jsonl", "--out", f"{W}/g.jsonl", *LLM], ["bad-utf8.jsonl", "UTF-8"]),
    ("grade-directory", ["grade", f"{W}/a-dir", "--out", f"{W}/g.jsonl", *LLM], ["a-dir", "directory"]),
    (
        "grade-no-fields",
        ["grade", f"{W}/no-fields.jsonl", "--out", f"{W}/g.jsonl", *LLM],
        ["no-fields.jsonl", "'prompt'"],
    ),
    (
        "grade-bad-figures",
        ["grade", f"{W}/completions.jsonl", "--out", f"{W}/g.jsonl", "--paper-figures", f"{W}/figures.json", *LLM],
        ["figures.json", "--paper-figures"],
    ),
    (
        "grade-figures-not-json",
        ["grade", f"{W}/completions.jsonl", "--out", f"{W}/g.jsonl", "--paper-figures", f"{W}/not-json.json", *LLM],
        ["not-json.json"],
    ),
    (
        "grade-zero-concurrency",
        ["grade", f"{W}/completions.jsonl", "--out", f"{W}/g.jsonl", "--concurrency", "0", *LLM],
        ["--concurrency"],
    ),
    ("metrics-bad-utf8", ["metrics", f"{W}/bad-utf8.txt"], ["bad-utf8.txt", "UTF-8"]),
    ("metrics-directory", ["metrics", f"{W}/a-dir"], ["a-dir"]),
    ("metrics-no-fields", ["metrics", f"{W}/no-fields.jsonl"], ["no-fields.jsonl"]),
    ("metrics-zero-k", ["metrics", f"{W}/stories.txt", "--k", "0"], ["--k"]),
    (
        "heads-zero-stories",
        ["heads", f"{W}/model", "--stories", f"{W}/stories.txt", "--n-stories", "0"],
        ["--n-stories"],
    ),
    ("heads-bad-utf8", ["heads", f"{W}/model", "--stories", f"{W}/bad-utf8.txt"], ["bad-utf8.txt", "UTF-8"]),
    ("eval-bpb-bad-utf8", ["eval-bpb", f"{W}/model", "--data", f"{W}/bad-utf8.txt"], ["bad-utf8.txt", "UTF-8"]),
    (
        "eval-bpb-zero-batch",
        ["eval-bpb", f"{W}/model", "--data", f"{W}/stories.txt", "--batch-size", "0"],
        ["--batch-size"],
    ),
    (
        "eval-bpb-negative-stories",
        ["eval-bpb", f"{W}/model", "--data", f"{W}/stories.txt", "--max-stories", "-5"],
        ["--max-stories"],
    ),
    (
        "import-not-a-checkpoint",
        ["import-llama2c", f"{W}/stories.txt", "--tokenizer", f"{W}/stories.txt", "--out", f"{W}/imported"],
        ["stories.txt"],
    ),
    ("ship-empty-name", ["ship", f"{W}/model", "--name", "", "--root", f"{W}/root"], ["--name", "plain folder name"]),
    ("ship-dot-name", ["ship", f"{W}/model", "--name", ".", "--root", f"{W}/root"], ["--name", "'.'"]),
    ("ship-path-name", ["ship", f"{W}/model", "--name", "../escape", "--root", f"{W}/root"], ["../escape"]),
    ("ship-into-users-folder", ["ship", f"{W}/model", "--name", "users", "--root", str(W)], ["users", "--force"]),
    ("ship-not-a-run", ["ship", f"{W}/a-dir", "--name", "new", "--root", f"{W}/root"], ["a-dir", "config.json"]),
]

if (LLAMA2C / "stories260K.bin").exists():
    CASES.append(
        (
            "import-into-users-folder",
            [
                "import-llama2c",
                str(LLAMA2C / "stories260K.bin"),
                "--tokenizer",
                str(LLAMA2C / "tok512.bin"),
                "--out",
                f"{W}/users",
            ],
            ["users", "--force"],
        )
    )


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(workspace, argv, words, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used")
    monkeypatch.chdir(workspace)
    assert_refused(workspace, argv, words, capsys, allowed_new=("cache",))


def assert_refused(
    workspace: Path, argv: list[str], words: list[str], capsys, allowed_new: tuple[str, ...] = ()
) -> str:
    """Run ``argv`` (``{w}`` = the workspace): exit 2, one ``error:`` line holding ``words``, no traceback, and
    every file under the workspace as it was (``allowed_new``: prefixes of new paths a refusal may leave); the
    error line."""
    before = snapshot(workspace)
    argv = [a.replace(W, str(workspace)) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    after = snapshot(workspace)
    changed = [k for k in before if after.get(k) != before[k]]
    assert not changed, f"changed or removed: {changed}"
    # a refused command may leave a cache it owns, never anything beside the user's files
    assert [k for k in after if k not in before and not k.startswith(allowed_new)] == []
    return lines[0]
