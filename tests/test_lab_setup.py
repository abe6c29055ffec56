"""The lab leaves the user's setup alone (its own workspace and settings), keeps views through a save after a kernel
restart (jupyter_server's own contents manager with the lab's pre-save hook), and works from an installed wheel:
notebooks from the wheel, kernels in the user's folder, a one-line instruction when no model is shipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tiny_interp.defaults import REPO_ROOT
from tiny_interp.workbench.lab_views import STATE_MIME, VIEW_MIME

PY = sys.executable


def test_lab_keeps_its_workspace_and_settings_in_its_folder(tmp_path):
    from tiny_interp.commands.lab import jupyter_command

    work = tmp_path / "work"
    cmd = jupyter_command(tmp_path, work / "00_quickstart.ipynb", ["--no-browser"])
    assert f"--LabApp.workspaces_dir={work / '.lab' / 'workspaces'}" in cmd
    assert f"--LabApp.user_settings_dir={work / '.lab' / 'settings'}" in cmd
    assert cmd[-1] == "--no-browser" and "--LabApp.default_url=/lab/tree/work/00_quickstart.ipynb" in cmd


def test_make_lab_passes_args_to_jupyter():
    out = subprocess.run(
        ["make", "-n", "-C", str(REPO_ROOT), "lab", "ARGS=--no-browser --port 8899"],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.skip(f"make -n failed here: {out.stderr.strip()[:200]}")
    assert "tiny-interp lab -- --no-browser --port 8899" in out.stdout


def view_notebook(model_id: str, saved: bool) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output(
        "display_data",
        data={
            VIEW_MIME: {"model_id": model_id, "version_major": 2, "version_minor": 0},
            "text/html": "<div class='ti-view'>twin</div>",
            "text/plain": "Explorer(...)",
        },
    )
    nb.cells.append(nbformat.v4.new_code_cell("explorer", outputs=[out], execution_count=1))
    state = {model_id: {"model_name": "VBoxModel", "state": {}}} if saved else {}
    nb.metadata["widgets"] = {STATE_MIME: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


@pytest.mark.parametrize("saved", [True, False])
def test_a_save_after_a_restart_keeps_the_static_twin(tmp_path, saved):
    from jupyter_server.services.contents.filemanager import FileContentsManager

    cm = FileContentsManager(root_dir=str(tmp_path), pre_save_hook="tiny_interp.workbench.lab_views.keep_views_on_save")
    nb = view_notebook("abc123", saved)
    cm.save({"type": "notebook", "format": "json", "content": nb}, "views.ipynb")
    data = json.loads((tmp_path / "views.ipynb").read_text())["cells"][0]["outputs"][0]["data"]
    assert "text/html" in data
    assert (VIEW_MIME in data) == saved  # a live widget keeps its reference; a forgotten one shows its twin


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The package built as a wheel from this tree's files and installed under a prefix of its own."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and not name.startswith("trained_models/") and (REPO_ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO_ROOT / name).read_bytes())
    pip = [PY, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist")], check=True)
    wheel = next((tmp / "dist").glob("*.whl"))
    prefix = tmp / "prefix"
    # --ignore-installed: without it pip first uninstalls the developer's own (editable) install of the package
    install = [*pip, "install", "--no-deps", "--no-index", "--ignore-installed", "--prefix", str(prefix), str(wheel)]
    subprocess.run(install, check=True)
    return prefix


def run_installed(prefix: Path, cwd: Path, code: str) -> subprocess.CompletedProcess:
    site = next(prefix.glob("lib/python*/site-packages"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([PY, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_lab_from_a_wheel(installed_wheel, tmp_path):
    user = tmp_path / "me"
    user.mkdir()
    probe = (
        "import tiny_interp, json\n"
        "from tiny_interp.workbench.lab_setup import notebook_source, default_workdir, in_checkout\n"
        "from tiny_interp.commands.lab import jupyter_command\n"
        "w = default_workdir()\n"
        "print(json.dumps([tiny_interp.__file__, str(notebook_source(None)), str(w), in_checkout(),"
        " jupyter_command(w, w / '00_quickstart.ipynb', [])]))\n"
    )
    out = run_installed(installed_wheel, user, probe)
    assert out.returncode == 0, out.stderr
    package, notebooks, work, checkout, cmd = json.loads(out.stdout)
    assert package.startswith(str(installed_wheel))  # the wheel's code, not this checkout's
    assert (Path(notebooks) / "10_attribution_graphs.ipynb").is_file() and not checkout
    assert Path(work) == user / "tiny-interp-lab"  # the lab works (and its kernels start) in the user's folder
    assert not any("RepoRootKernelManager" in a for a in cmd)
    # no shipped model in a wheel: one line saying what to do, no training, no download, no traceback
    lab = run_installed(installed_wheel, user, "from tiny_interp.cli import main; raise SystemExit(main(['lab']))")
    lines = lab.stderr.strip().splitlines()
    assert lab.returncode == 2 and len(lines) == 1 and "--model" in lines[0], lab.stderr
    assert not (user / "tiny-interp-lab").exists()
