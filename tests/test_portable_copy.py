"""Artifacts are portable: in a clone of the repository in another folder (tests/nb_fixtures.py makes it; every
notebook test runs there), reports of the notebooks with their defaults reuse the shipped atlases and write no
tracked file, their headers hold no absolute path, the quickstart report carries no third-party warning noise,
and at the end the clone's `git status` is clean. The shipped files themselves hold no absolute path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nb_fixtures import REPO, clone_env, git, repo_clone

SHIPPED = REPO / "trained_models"
NOISE = ("Skipping publisher trust check", "UserWarning", "FutureWarning", "DeprecationWarning")

needs_shipped = pytest.mark.skipif(
    not (SHIPPED / "ts-1M-neo" / "saes" / "atlas" / "atlas.json").is_file(), reason="no shipped ts-1M-neo atlases"
)
needs_shared = pytest.mark.skipif(
    not (REPO.parent / "shared" / "data" / "tinystories" / "valid.txt").is_file(), reason="no ../shared stories"
)


def test_no_tracked_file_holds_an_absolute_path():
    found = subprocess.run(
        ["git", "grep", "-nE", '"/(work|tmp|home|root|Users)/', "--", "trained_models", "notebooks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout
    assert found == "", found


def report(clone: Path, notebook: str, out: Path, *params: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tiny_interp.cli", "report", f"notebooks/{notebook}.ipynb", "--out", str(out)]
    for p in params:
        cmd += ["-p", p]
    return subprocess.run(cmd, cwd=clone, env=clone_env(clone), capture_output=True, text=True, timeout=1200)


def header(html: str) -> str:
    m = re.search(r'<header id="report-header">(.*?)</header>', html, re.S)
    assert m, "no report header"
    return m.group(1)


def atlas_stamps(clone: Path) -> dict[str, float]:
    """Every atlas file of the clone: the shipped ones and any built under runs/ (where a shipped model's rebuilt
    atlases go)."""
    files = [*clone.glob("trained_models/**/atlas/*"), *clone.glob("runs/**/atlas.json")]
    return {str(p.relative_to(clone)): p.stat().st_mtime for p in files}


@needs_shipped
@needs_shared
def test_08_in_a_clone_reuses_the_shipped_atlases(tmp_path):
    clone = repo_clone()
    before = atlas_stamps(clone)
    out = tmp_path / "08.html"
    done = report(clone, "08_features", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert atlas_stamps(clone) == before  # opened, not rebuilt: not one atlas file written, here or in runs/
    assert git(clone, "status", "--porcelain") == ""
    html = out.read_text()
    assert str(clone) not in html and str(REPO) not in html  # no path of this machine anywhere in the report
    top = header(html)
    assert "/tmp/" not in top and "-dirty" not in top
    assert "trained_models/ts-1M-neo" in top


@needs_shipped
def test_quickstart_report_is_quiet(tmp_path):
    clone = repo_clone()
    out = tmp_path / "00.html"
    done = report(clone, "00_quickstart", out, "MAX_NEW_TOKENS=24")
    assert done.returncode == 0, done.stderr[-3000:]
    html = out.read_text()
    assert str(clone) not in html and str(REPO) not in html  # no path of this machine anywhere in the report
    text = re.sub(r"<[^>]+>", " ", html)
    for noise in NOISE:
        assert noise not in text, noise
    assert "trained_models/ts-1L" in header(out.read_text())


def test_the_clone_stays_clean_after_every_notebook_ran_there():
    """Last in this file, after tests/test_notebooks.py (earlier in the run) used the same clone."""
    clone = repo_clone()
    assert git(clone, "status", "--porcelain") == ""
    assert json.loads((clone / "notebooks" / "00_quickstart.ipynb").read_text())["cells"]
