"""`tiny-interp atlas` as a user meets it: output directories it may write, one-line errors for bad values, and
a killed parallel build that takes its workers with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINYSTORIES, needs_shared

from tiny_interp.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--n-stories", "24", "--batch-size", "8", "--max-len", "48", "--top-k", "3"]


def _atlas(model: Path, stories: Path, *args: str) -> int:
    return cli_main(["atlas", str(model), "--stories", str(stories), *SMALL, *args])


def test_out_must_be_new_empty_or_its_own_atlas(make_model_dir, story_files, tmp_path, capsys, monkeypatch):
    model, stories = make_model_dir("tiny"), story_files[0]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert _atlas(model, stories, "--out", str(foreign)) == 2
    assert "holds files tiny-interp did not write" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert _atlas(model, stories, "--out", ".") == 0  # an empty working directory is fine
    assert (here / "atlas.json").is_file()
    (here / "mine.txt").write_text("keep")  # a file the user adds beside an atlas survives a forced rebuild
    assert _atlas(model, stories, "--out", ".", "--force") == 0
    assert (here / "mine.txt").read_text() == "keep" and not (here / ".build").exists()
    assert _atlas(model, stories, "--out", str(foreign), "--force") == 0  # forced: writes beside the user's file
    assert (foreign / "notes.txt").read_text() == "mine" and (foreign / "atlas.json").is_file()


@pytest.mark.parametrize(
    "bad, message",
    [
        # the build's options come from AtlasConfig's fields: their ranges are checked as the options are parsed
        (["--top-k", "0"], "argument --top-k: 0 is out of range: must be >= 1"),
        (["--batch-size", "-1"], "argument --batch-size: -1 is out of range"),
        (["--workers", "0"], "argument --workers: 0 is out of range"),
        (["--top-min", "nan"], "argument --top-min: 'nan' is not a finite number"),
        (["--n-stories", "0"], "--n-stories must be positive"),
        (["--show", "99:0"], "the atlas has layers"),
    ],
)
def test_bad_values_end_in_one_line(bad, message, make_model_dir, story_files, tmp_path, capsys):
    out = tmp_path / "a"
    code = _exit_code(
        [
            "atlas",
            str(make_model_dir("tiny")),
            "--stories",
            str(story_files[0]),
            "--n-stories",
            "24",
            "--max-len",
            "48",
            "--out",
            str(out),
            *bad,
        ]
    )
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # (a progress bar may come before it)
    assert code == 2 and last.startswith("error:") and message in last and "Traceback" not in err, err


def _exit_code(argv: list[str]) -> int:
    """``main``'s return code, or argparse's exit status for an option it refused while parsing."""
    try:
        return cli_main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def test_atlas_options_are_atlas_configs_fields():
    """Every AtlasConfig field is a documented ``tiny-interp atlas`` option, parsed into the config it names."""
    import dataclasses

    from tiny_interp.atlas_config import AtlasConfig
    from tiny_interp.cli import build_parser
    from tiny_interp.cli_args import config_from_args

    args = build_parser().parse_args(["atlas", "m", "--window", "3", "--top-min", "0.5", "--quantile-seed", "7"])
    assert config_from_args(AtlasConfig, args) == AtlasConfig(window=3, top_min=0.5, quantile_seed=7)
    help_text = subprocess.run(
        [sys.executable, "-m", "tiny_interp.cli", "atlas", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
    ).stdout
    flat = " ".join(help_text.split())
    for f in dataclasses.fields(AtlasConfig):
        flag, text = "--" + f.name.replace("_", "-"), f.metadata.get("help")
        assert text and f"{flag} " in flat and " ".join(text.split()) in flat, f"{flag} is not documented"


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@needs_shared
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_a_killed_parallel_build_ends_its_workers(tmp_path):
    model = REPO / "trained_models" / "ts-1M-neo"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tiny_interp.cli",
            "atlas",
            str(model),
            "--stories",
            str(TINYSTORIES / "valid.txt"),
            "--workers",
            "2",
            "--out",
            str(tmp_path / "atlas"),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    workers: list[int] = []
    while len(workers) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert len(workers) >= 2, "the build never started its workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while any(Path(f"/proc/{w}").exists() and "Z" not in _state(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in _state(w)]
    assert not alive, f"workers {alive} outlived their killed parent"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
