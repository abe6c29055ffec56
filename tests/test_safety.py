"""Never lose a user's work: output ownership, one writer, resume that cannot go backwards, reuse only for the same
job, umask, escaped markdown, the paper's Figure 4 side table, and a --help that does not import torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import LLAMA2C, REPO, SHARED
from llm_stub import ScriptByItem, StubServer
from storygen import write_txt

from tiny_interp.cli import main
from tiny_interp.errors import LockedError, OutputError
from tiny_interp.locking import exclusive_lock
from tiny_interp.ownership import claim_output_dir, kinds_in, owns
from tiny_interp.train.run_dir import LOCK_FILE


def run_args(stories: Path, out: Path, cache: Path, steps: int, *extra: str) -> list[str]:
    return [
        "train",
        "--preset",
        "tiny",
        "--data",
        str(stories),
        "--out",
        str(out),
        "--max-steps",
        str(steps),
        "--batch-size",
        "4",
        "--seq-len",
        "32",
        "--vocab-size",
        "300",
        "--eval-every",
        "5",
        "--save-every",
        "5",
        "--warmup-steps",
        "2",
        "--cache-dir",
        str(cache),
        "--quiet",
        *extra,
    ]


@pytest.fixture(scope="module")
def stories(tmp_path_factory, story_texts) -> Path:
    path = tmp_path_factory.mktemp("safety-data") / "stories.txt"
    write_txt(path, story_texts[:120])
    return path


def weights_of(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


# ---------------------------------------------------------------- ownership


def test_claim_creates_refuses_foreign_and_force_leaves_other_files(tmp_path):
    new = claim_output_dir(tmp_path / "new", "atlas")
    assert owns(new, "atlas") and kinds_in(new) == ["atlas"]
    assert claim_output_dir(new, "atlas") == new  # its own earlier output
    (new / "atlas.json").write_text("{}")
    with pytest.raises(OutputError, match="holds atlas output, not card output"):
        claim_output_dir(new, "card")
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=f"{users} holds files tiny-interp did not write.*--force"):
        claim_output_dir(users, "atlas")
    claim_output_dir(users, "atlas", force=True)
    assert (users / "notes.txt").read_text() == "mine" and owns(users, "atlas")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        claim_output_dir(tmp_path / "file", "atlas")


def test_out_dot_works_and_import_keeps_the_users_files(tmp_path, monkeypatch):
    if not (LLAMA2C / "stories260K.bin").exists():
        pytest.skip(f"llama2.c model not found at {LLAMA2C}")
    args = ["import-llama2c", str(LLAMA2C / "stories260K.bin"), "--tokenizer", str(LLAMA2C / "tok512.bin")]
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main([*args, "--out", "."]) == 0  # an empty current folder is a new output
    assert (here / "model.safetensors").exists()
    (here / "notes.txt").write_text("mine")
    assert main([*args, "--out", "."]) == 0  # its own earlier import: model files replaced, the note kept
    assert (here / "notes.txt").read_text() == "mine"
    users = tmp_path / "users"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    assert main([*args, "--out", str(users)]) == 2
    assert main([*args, "--out", str(users), "--force"]) == 0
    assert (users / "notes.txt").read_text() == "mine" and (users / "config.json").exists()


def test_files_keep_the_umask(tmp_path, make_model_dir):
    from tiny_interp.model import TinyLM, get_preset
    from tiny_interp.model.checkpoint import load_tokenizer, save_model

    old = os.umask(0o022)
    try:
        tok = load_tokenizer(make_model_dir("tiny"))
        out = save_model(tmp_path / "m", TinyLM(get_preset("tiny").replace(vocab_size=len(tok))), tok)
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json", "tiny_interp.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name


# ---------------------------------------------------------------- resume


def test_resume_without_state_refuses_and_keeps_the_model(tmp_path, stories):
    cache, run = tmp_path / "cache", tmp_path / "run"
    assert main(run_args(stories, run, cache, 5)) == 0
    model = (run / "model.safetensors").read_bytes()
    shutil.rmtree(run / "resume")
    assert main(run_args(stories, run, cache, 10, "--resume")) == 2
    assert main(run_args(stories, run, cache, 10)) == 2  # a fresh start would overwrite the trained model
    assert (run / "model.safetensors").read_bytes() == model
    assert main(run_args(stories, run, cache, 10, "--force")) == 0  # said explicitly: start afresh


def test_damaged_newest_state_resumes_from_the_one_before_with_the_same_result(tmp_path, stories):
    cache, straight, damaged = tmp_path / "cache", tmp_path / "straight", tmp_path / "damaged"
    constant = ("--schedule", "constant")  # the learning rate does not depend on max_steps: 10 + 5 steps = 15
    assert main(run_args(stories, straight, cache, 15, *constant)) == 0
    assert main(run_args(stories, damaged, cache, 10, *constant)) == 0
    states = sorted(p.name for p in (damaged / "resume").iterdir())
    assert states == ["step-00000005", "step-00000010"]  # the last two are kept
    weights = damaged / "resume" / "step-00000010" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # a flipped byte inside a tensor: still a readable file, wrong numbers
    weights.write_bytes(bytes(data))
    # a kill mid-save leaves a temporary folder that must be ignored
    (damaged / "resume" / ".step-00000015.tmp").mkdir()
    with pytest.warns(UserWarning, match="step-00000010: weights.safetensors fails its checksum"):
        assert main(run_args(stories, damaged, cache, 15, *constant, "--resume")) == 0
    a, b = weights_of(straight), weights_of(damaged)
    assert all(torch.equal(a[k], b[k]) for k in a)
    from tiny_interp.train import read_metrics

    assert read_metrics(straight)[-1]["loss"] == read_metrics(damaged)[-1]["loss"]


def test_state_from_before_checksums_and_a_kill_between_renames_still_resume(tmp_path, stories):
    """The earlier layout (resume/ holding one state, or only .resume.old after a kill between its two renames)."""
    cache, run = tmp_path / "cache", tmp_path / "run"
    assert main(run_args(stories, run, cache, 5)) == 0
    state = run / "resume" / "step-00000005"
    old = run / ".resume.old"
    shutil.copytree(state, old)
    (old / "manifest.json").unlink()
    shutil.rmtree(run / "resume")
    assert main(run_args(stories, run, cache, 10, "--resume")) == 0
    assert json.loads((run / "tiny_interp.json").read_text())["step"] == 10 and not old.exists()


def test_non_finite_loss_stops_before_anything_is_published(tmp_path, stories, capsys):
    cache, run = tmp_path / "cache", tmp_path / "run"
    rc = main(run_args(stories, run, cache, 10, "--lr", "1e30", "--warmup-steps", "0", "--grad-clip", "0"))
    err = capsys.readouterr().err
    assert rc == 2 and "loss became" in err, err
    assert not (run / "model.safetensors").exists() and not (run / "resume").exists()


# ---------------------------------------------------------------- one writer


def test_a_second_writer_is_refused(tmp_path, stories, capsys):
    cache, run = tmp_path / "cache", tmp_path / "run"
    assert main(run_args(stories, run, cache, 5)) == 0
    with exclusive_lock(run / LOCK_FILE, "test"):
        assert main(run_args(stories, run, cache, 10, "--resume")) == 2
        assert "being written by another process" in capsys.readouterr().err
        with pytest.raises(LockedError), exclusive_lock(run / LOCK_FILE, "again"):
            pass
    assert main(run_args(stories, run, cache, 10, "--resume")) == 0  # released on exit


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    lock = tmp_path / "x.lock"
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[2]); from tiny_interp.locking import exclusive_lock\n"
        "with exclusive_lock(sys.argv[1], 'x'): os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(lock), str(REPO)])
    assert proc.returncode == -9 and lock.exists()
    with exclusive_lock(lock, "x"):
        assert lock.read_text().strip() == str(os.getpid())


# ---------------------------------------------------------------- reuse only for the same job


def test_rerun_reasks_only_changed_requests_and_says_how_many(tmp_path):
    from tiny_interp.llm.runner import LLMItem, RunnerConfig, run_items

    def items(second: str) -> list[LLMItem]:
        return [
            LLMItem(id=k, messages=[{"role": "user", "content": f"{text} ITEM:{k}"}])
            for k, text in (("a", "first"), ("b", second))
        ]

    out = tmp_path / "log.jsonl"
    with StubServer(ScriptByItem({})) as server:
        cfg = RunnerConfig(model="m", base_url=server.base_url, fsync=False, jitter_seed=0)
        assert run_items(items("second"), out, cfg, api_key="k", progress=False).completed == 2
        again = run_items(items("second, changed"), out, cfg, api_key="k", progress=False)
        assert (again.completed, again.changed, again.already_done) == (1, 1, 1)
        assert any("re-asked 1" in line for line in again.lines())
        other_model = run_items(
            items("second, changed"),
            out,
            RunnerConfig(model="m2", base_url=server.base_url),
            api_key="k",
            progress=False,
        )
        assert other_model.changed == 2 and len(server.requests) == 5
    with exclusive_lock(out.with_name(out.name + ".lock"), "test"), pytest.raises(LockedError, match="log.jsonl"):
        run_items(items("x"), out, cfg, api_key="k", progress=False)


# ---------------------------------------------------------------- markdown, Figure 4, ship


def test_grade_table_escapes_names_and_shows_figure4_by_default(tmp_path):
    from tiny_interp.llm.grade import PAPER_FIGURE4, grade_table, table_markdown

    grades = tmp_path / "g.jsonl"
    rec = {
        "id": "x",
        "status": "done",
        "result": {"grammar": 7, "creativity": 6, "consistency": 8, "plot": 7, "age_group": "C"},
        "meta": {"model": "<img src=x onerror=alert(1)>|x", "shape": {"d_model": 64, "n_layers": 8}},
    }
    grades.write_text(json.dumps(rec) + "\n")
    rows = grade_table(grades)
    assert rows[0]["paper_grammar"] == 6.14 and rows[0]["paper_plot"] is None
    md = table_markdown(rows)
    assert "<img" not in md and "&lt;img" in md and "\\|x" in md and "arXiv 2305.07759" in md
    figure = SHARED / "paper" / "figure4.json"
    if figure.exists():
        for r in json.loads(figure.read_text()):
            assert PAPER_FIGURE4[(r["d_model"], r["n_layers"])] == {
                c: r[c] for c in ("grammar", "creativity", "consistency")
            }


def test_ship_skips_an_unreadable_sibling_and_escapes_the_card(tmp_path, stories):
    cache, run, root = tmp_path / "cache", tmp_path / "run", tmp_path / "shipped"
    assert main(run_args(stories, run, cache, 5)) == 0
    (root / "broken").mkdir(parents=True)
    (root / "broken" / "tiny_interp.json").write_text("{not json")
    (root / "other").mkdir()
    (root / "other" / "keep.txt").write_text("mine")
    with pytest.warns(UserWarning, match="skipped .*broken"):
        assert (
            main(["ship", str(run), "--name", "toy", "--root", str(root), "--summary", "<script>x</script> A toy."])
            == 0
        )
    card = (root / "toy" / "README.md").read_text()
    rendered = card.split("## Card settings")[0]  # the settings block below is a code block (shown, not rendered)
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert (root / "other" / "keep.txt").read_text() == "mine" and (root / "broken" / "tiny_interp.json").exists()
    (root / "toy" / "notes.txt").write_text("mine")
    assert main(["ship", str(run), "--name", "toy", "--root", str(root)]) == 0  # its own: notes stay
    assert (root / "toy" / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------- one argv builder, fast --help


def test_help_does_not_import_torch():
    code = (
        "import sys; from tiny_interp.cli import build_parser; build_parser(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_a_config_field_reaches_cli_card_and_lab_through_one_builder():
    import dataclasses

    from tiny_interp.cli import build_parser
    from tiny_interp.train.argv import train_argv
    from tiny_interp.train.config import DataConfig, TrainConfig
    from tiny_interp.workbench.live import train_argv as lab_argv

    cfg = TrainConfig(preset="tiny", max_steps=7, beta2=0.99, batch_size=3)
    data = DataConfig(data="t.txt", max_stories=50)
    argv = train_argv(cfg, data, "out")
    args = build_parser().parse_args(argv)
    rebuilt = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    assert rebuilt == cfg and "--beta2" in argv  # beta2 was never a hand-written option
    assert lab_argv("tiny", "t.txt", "out", 7, beta2=0.99, batch_size=3, max_stories=50) == argv
