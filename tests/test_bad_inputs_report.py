"""``tiny-interp report`` refuses bad input in one line (exit 2) and writes nothing; it replaces only the files it
wrote (a user's page of the same name is refused, ``--force`` or not); a failing notebook cell ends in one line
naming the cell and the error, with the full traceback in a log file beside the output."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from test_bad_inputs import W, snapshot
from test_bad_inputs_features import enter_workspace, run_refused
from test_report import small_notebook

from tiny_interp.cli import main


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    w = tmp_path_factory.mktemp("bad-report")
    small_notebook(w / "small.ipynb")
    (w / "not-a-notebook.ipynb").write_text("{not json")
    (w / "binary.ipynb").write_bytes(bytes(range(256)) * 4)
    (w / "stories.txt").write_text("Once upon a time.\n")
    (w / "a-dir").mkdir()
    (w / "users").mkdir()
    (w / "users" / "page.html").write_text("<html>my own page</html>\n")
    (w / "users" / "run.ipynb").write_text("{}")
    (w / "users" / "page.log").write_text("my log\n")
    (w / "mine").mkdir()
    (w / "mine" / "r.log").write_text("the user's own r.log\n")
    return w


@pytest.fixture
def in_workspace(workspace, monkeypatch, tmp_path):
    return enter_workspace(workspace, monkeypatch, tmp_path)


R = ["report", f"{W}/small.ipynb"]
OUT = ["--out", f"{W}/r.html"]

CASES = [
    ("missing-notebook", ["report", f"{W}/nowhere.ipynb", *OUT], ["nowhere.ipynb"]),
    ("notebook-not-json", ["report", f"{W}/not-a-notebook.ipynb", *OUT], ["not-a-notebook.ipynb", "not a readable"]),
    ("notebook-binary", ["report", f"{W}/binary.ipynb", *OUT], ["binary.ipynb"]),
    ("notebook-is-a-folder", ["report", f"{W}/a-dir", *OUT], ["a-dir"]),
    ("notebook-is-text", ["report", f"{W}/stories.txt", *OUT], ["stories.txt"]),
    ("out-is-a-folder", [*R, "--out", f"{W}/a-dir"], ["a-dir", "is a directory"]),
    ("out-folder-is-a-file", [*R, "--out", f"{W}/stories.txt/r.html"], ["stories.txt", "is a file"]),
    ("out-is-users-page", [*R, "--out", f"{W}/users/page.html"], ["users/page.html", "not written"]),
    ("log-is-users-file", [*R, "--out", f"{W}/mine/r.html"], ["mine/r.log", "not written"]),
    (
        "executed-copy-is-users-file",
        [*R, *OUT, "--save-executed", f"{W}/users/run.ipynb"],
        ["users/run.ipynb", "not written"],
    ),
    ("unknown-parameter", [*R, *OUT, "-p", "TYPO=1"], ["TYPO"]),
    ("parameter-without-value", [*R, *OUT, "-p", "N"], ["N"]),
    ("cwd-missing", [*R, *OUT, "--cwd", f"{W}/nowhere"], ["--cwd", "nowhere"]),
    ("cwd-is-a-file", [*R, *OUT, "--cwd", f"{W}/stories.txt"], ["--cwd", "stories.txt"]),
    ("cell-timeout-nan", [*R, *OUT, "--cell-timeout", "nan"], ["--cell-timeout", "nan"]),
    ("cell-timeout-negative", [*R, *OUT, "--cell-timeout=-5"], ["--cell-timeout"]),
]


@pytest.mark.parametrize("argv, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_report_input_is_one_line_exit_2_and_changes_nothing(in_workspace, argv, words, capsys):
    run_refused(in_workspace, argv, words, capsys)


def test_a_failing_cell_is_one_line_with_the_traceback_in_a_log_beside_the_output(in_workspace, tmp_path, capfd):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    nb = small_notebook(tmp_path / "bad.ipynb", "def f():\n    raise ValueError('boom in cell 4')\nf()")
    before = snapshot(in_workspace)
    rc = main(["report", str(nb), "--out", str(out_dir / "r.html")])
    err = capfd.readouterr().err
    # the kernel process's own stderr (its start-up notice, a shutdown race in its messaging) goes to the log
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: cell 4 of the notebook failed: ValueError: boom in cell 4")
    assert f"full traceback in {out_dir / 'r.log'}" in lines[0] and "Traceback" not in err
    log = (out_dir / "r.log").read_text()
    assert "ValueError" in log and "def f():" in log and "\x1b[" not in log  # the whole traceback, plain text
    assert not (out_dir / "r.html").exists() and snapshot(in_workspace) == before

    # the report is ours now: a rerun replaces the log and writes the page; a user's page is never replaced
    good = small_notebook(tmp_path / "good.ipynb")
    assert main(["report", str(good), "--out", str(out_dir / "r.html")]) == 0
    assert (out_dir / "r.html").is_file()
    assert main(["report", str(good), "--out", str(out_dir / "r.html")]) == 0
    shutil.copy(out_dir / "r.html", tmp_path / "copy.html")
    (out_dir / "other.html").write_text("<p>the user's</p>")
    assert main(["report", str(good), "--out", str(out_dir / "other.html")]) == 2
    assert (out_dir / "other.html").read_text() == "<p>the user's</p>"
    capfd.readouterr()


def test_an_executed_copy_is_written_and_claimed_on_failure(tmp_path, capfd):
    nb = small_notebook(tmp_path / "bad.ipynb", "1 / 0")
    copy = tmp_path / "bad.out.ipynb"
    assert main(["report", str(nb), "--out", str(tmp_path / "r.html"), "--save-executed", str(copy)]) == 2
    assert "ZeroDivisionError" in capfd.readouterr().err
    executed = nbformat.read(copy, as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    assert main(["report", str(nb), "--out", str(tmp_path / "r.html"), "--save-executed", str(copy)]) == 2
