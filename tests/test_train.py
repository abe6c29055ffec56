"""The trainer: end to end on real data, exact resumption after SIGKILL, DDP on 2 CPU processes, schedule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINYSTORIES

from tiny_interp.train.config import TrainConfig
from tiny_interp.train.schedule import log_spaced_steps, lr_at
from tiny_interp.train.state import saved_step


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tiny_interp.cli", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def small_run_args(train: Path, valid: Path, out: Path, cache: Path, steps: int = 30, **extra: str) -> list[str]:
    args = [
        "train",
        "--preset",
        "tiny",
        "--data",
        str(train),
        "--val-data",
        str(valid),
        "--out",
        str(out),
        "--max-steps",
        str(steps),
        "--batch-size",
        "4",
        "--seq-len",
        "64",
        "--vocab-size",
        "300",
        "--eval-every",
        "10",
        "--eval-batches",
        "2",
        "--save-every",
        "5",
        "--warmup-steps",
        "3",
        "--cache-dir",
        str(cache),
        "--quiet",
    ]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", v]
    return args


def weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def final_row(path: Path) -> dict:
    from tiny_interp.train import read_metrics

    return read_metrics(path)[-1]


def test_end_to_end_prepare_train_load_generate(tmp_path, story_files):
    """prepare -> train -> load (bridge) -> generate, on ../shared real stories when present."""
    import tiny_interp
    from tiny_interp.cli import main

    if (TINYSTORIES / "train.txt").exists():
        train, valid = TINYSTORIES / "train.txt", TINYSTORIES / "valid.txt"
    else:
        train, valid = story_files  # generated stories stand in when ../shared is absent
    cache, out = tmp_path / "cache", tmp_path / "run"
    assert (
        main(
            [
                "prepare",
                "--data",
                str(train),
                "--val-data",
                str(valid),
                "--vocab-size",
                "512",
                "--cache-dir",
                str(cache),
                "--max-stories",
                "1500",
            ]
        )
        == 0
    )
    args = [
        "train",
        "--preset",
        "tiny",
        "--data",
        str(train),
        "--val-data",
        str(valid),
        "--out",
        str(out),
        "--max-steps",
        "120",
        "--batch-size",
        "16",
        "--seq-len",
        "128",
        "--vocab-size",
        "512",
        "--lr",
        "3e-3",
        "--eval-every",
        "40",
        "--eval-batches",
        "4",
        "--warmup-steps",
        "10",
        "--cache-dir",
        str(cache),
        "--max-stories",
        "1500",
        "--keep-checkpoints",
        "4",
        "--quiet",
    ]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("val_loss") is not None]
    assert {"step", "tokens", "loss", "val_loss", "val_bpb", "lr", "tokens_per_s"} <= set(evals[-1])
    assert evals[-1]["val_loss"] < evals[0]["val_loss"] < 6.3  # it learns (uniform over 512 tokens is 6.24)
    assert len(list((out / "checkpoints").iterdir())) == 4
    meta = json.loads((out / "tiny_interp.json").read_text())
    assert meta["step"] == 120 and meta["data_fingerprint"] and meta["metrics"]["val_bpb"] > 0

    bridge = tiny_interp.load(out)
    logits = bridge(bridge.tokenizer.encode("Once upon a time", return_tensors="pt"))
    # 512 on real stories; the generated stand-ins hold too few distinct pairs for all 512 merges
    assert logits.shape[-1] == len(bridge.tokenizer) <= 512
    proc = subprocess.run(
        cli("generate", str(out), "--prompt", "Once upon a time", "--max-new-tokens", "20", "--temperature", "0"),
        capture_output=True,
        text=True,
        env=env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Once upon a time") and len(proc.stdout) > len("Once upon a time\n")


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, story_files):
    train, valid = story_files
    cache = tmp_path / "cache"
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    args = dict(dropout="0.1")  # dropout makes the RNG state part of what must be restored
    subprocess.run(cli(*small_run_args(train, valid, straight, cache, **args)), check=True, env=env(), timeout=300)

    proc = subprocess.Popen(
        cli(*small_run_args(train, valid, killed, cache, **args)),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        if saved_step(killed) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = saved_step(killed)
    assert stopped_at < 30, "the run finished before it could be killed; make it longer"

    resumed = subprocess.run(
        cli(*small_run_args(train, valid, killed, cache, **args), "--resume"),
        env=env(),
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert final_row(straight)["val_loss"] == pytest.approx(final_row(killed)["val_loss"], abs=1e-6)
    assert final_row(straight)["loss"] == pytest.approx(final_row(killed)["loss"], abs=1e-6)


def test_resume_refuses_changed_settings_and_fresh_run_refuses_existing(tmp_path, story_files):
    from tiny_interp.cli import main

    train, valid = story_files
    cache, out = tmp_path / "cache", tmp_path / "run"
    assert main(small_run_args(train, valid, out, cache, steps=5)) == 0
    assert main(small_run_args(train, valid, out, cache, steps=10)) == 2  # exists, no --resume
    assert main([*small_run_args(train, valid, out, cache, steps=10), "--resume", "--lr", "1e-2"]) == 2
    assert main([*small_run_args(train, valid, out, cache, steps=10), "--resume"]) == 0
    assert final_row(out)["step"] == 10


def test_ddp_two_gloo_processes_equal_one_process_with_double_batch(tmp_path, story_files):
    train, valid = story_files
    cache = tmp_path / "cache"
    # tokenize once so both runs read the same cached shards
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    subprocess.run(
        cli(*small_run_args(train, valid, single, cache, steps=10, batch_size="8")), check=True, env=env(), timeout=300
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "tiny_interp.cli",
        *small_run_args(train, valid, ddp, cache, steps=10, batch_size="4", device="cpu"),
    ]
    proc = subprocess.run(cmd, env=env(), timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((ddp / "train_config.json").read_text())["world_size"] == 2
    assert final_row(ddp)["loss"] == pytest.approx(final_row(single)["loss"], abs=1e-4)
    assert final_row(ddp)["val_loss"] == pytest.approx(final_row(single)["val_loss"], abs=1e-4)
    a, b = weights(single), weights(ddp)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4), k


def test_schedule_warmup_cosine_and_constant():
    cfg = TrainConfig(max_steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-4)
    assert lr_at(55, cfg) == pytest.approx(0.55e-3, rel=1e-6)
    const = TrainConfig(max_steps=100, warmup_steps=0, schedule="constant")
    assert {lr_at(s, const) for s in range(100)} == {const.lr}
    steps = log_spaced_steps(10_000, 8)
    assert steps[0] == 1 and steps[-1] == 10_000 and len(steps) == 8


def test_window_sampler_is_a_pure_function_of_the_sample_index():
    import numpy as np

    from tiny_interp.train.batches import WindowSampler

    tokens = np.arange(10_000, dtype=np.uint16)
    a, b = WindowSampler(tokens, 32, seed=1), WindowSampler(tokens, 32, seed=1)
    x1, _ = a.batch(500, 8)
    b.batch(0, 8)
    x2, y2 = b.batch(500, 8)
    assert torch.equal(x1, x2) and torch.equal(x2[:, 1:], y2[:, :-1])
    # one epoch visits every window once
    starts = {a.window_start(i) for i in range(a.n_windows)}
    assert len(starts) == a.n_windows


def test_unknown_preset_and_cuda_without_gpu_fail_clearly(tmp_path, story_files, capsys):
    from tiny_interp.cli import main

    train, valid = story_files
    assert (
        main(
            [
                "train",
                "--preset",
                "huge",
                "--data",
                str(train),
                "--out",
                str(tmp_path / "x"),
                "--max-steps",
                "1",
                "--cache-dir",
                str(tmp_path / "c"),
                "--vocab-size",
                "300",
                "--quiet",
            ]
        )
        == 2
    )
    assert "unknown preset 'huge'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(small_run_args(train, valid, tmp_path / "y", tmp_path / "c", steps=1, device="cuda")) == 2
        assert "no CUDA GPU" in capsys.readouterr().err


def test_bf16_autocast_on_cpu_trains_and_is_recorded(tmp_path, story_files):
    """--precision bf16 runs the CPU forward under bf16 autocast (master weights stay float32) and still learns."""
    from tiny_interp.cli import main

    train, valid = story_files
    out = tmp_path / "run"
    assert main(small_run_args(train, valid, out, tmp_path / "cache", steps=20, precision="bf16", lr="3e-3")) == 0
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["train"]["precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in weights(out).values())
    rows = [
        r
        for r in json.loads("[" + ",".join((out / "metrics.jsonl").read_text().splitlines()) + "]")
        if r.get("val_loss") is not None
    ]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    with pytest.raises(Exception, match="precision"):
        TrainConfig(precision="fp8")


def test_story_longer_than_the_context_trains_and_generates(tmp_path, capsys):
    """One story of ~3,000 tokens against a 64-token context: windows cut it, generation trims long prompts."""
    from storygen import stories, write_txt

    from tiny_interp.cli import main

    long_story = " ".join(stories(60, seed=3)).replace("\n", " ")
    train, valid = tmp_path / "train.txt", tmp_path / "valid.txt"
    write_txt(train, [long_story])
    write_txt(valid, [long_story[: len(long_story) // 3]])
    out = tmp_path / "run"
    assert main(small_run_args(train, valid, out, tmp_path / "cache", steps=4, set="n_ctx=64")) == 0
    capsys.readouterr()
    assert (
        main(["generate", str(out), "--prompt", long_story[:2000], "--max-new-tokens", "5", "--temperature", "0"]) == 0
    )
    captured = capsys.readouterr()
    assert captured.out.startswith(long_story[:2000])
    assert "cut to the last 63" in captured.err
