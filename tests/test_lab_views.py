"""Views survive a kernel restart in the lab (real JupyterLab, real Chromium): run the quickstart, restart its kernel,
save, reload the page: every view is back (its saved widget state is gone after the restart, so its static twin
stands in) and no "Error displaying widget" shows. The lab's workspace and settings stay in its own folder.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_browser import (
    ARTIFACTS,
    CHROMIUM,
    browser,  # noqa: F401 - the fixture
    free_port,
    lab_env,
    open_notebook,
    printed_url,
    run_all_until_started,
    stop_group,
    wait_http,
)

from tiny_interp.workbench.lab_views import VIEW_MIME, saved_widget_ids

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"),
]
VIEWS = ".jp-NotebookPanel .ti-root"


def start_lab(model: Path, work: Path, tmp_path: Path) -> tuple[subprocess.Popen, str, str, Path]:
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "lab.log"
    cmd = [sys.executable, "-m", "tiny_interp.cli", "lab", "--model", str(model), "--workdir", str(work), "--"]
    cmd += ["--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}"]
    cmd += ["--ServerApp.port_retries=0"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, env=lab_env(tmp_path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{port}", token, log_path


def restart_kernels(base: str, token: str) -> None:
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as r:
        kernels = json.load(r)
    assert kernels, "no kernel to restart"
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}/restart?token={token}", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=60).close()


def saved_after(path: Path, stamp: float, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.stat().st_mtime > stamp:
            time.sleep(0.5)  # the atomic rename is done; let a second write settle
            return json.loads(path.read_text())
        time.sleep(0.3)
    raise TimeoutError(f"{path} was not saved")


def test_views_survive_a_kernel_restart_and_a_save(browser, nb_run, tmp_path):  # noqa: F811
    work = tmp_path / "work"
    proc, base, token, log_path = start_lab(nb_run, work, tmp_path)
    try:
        wait_http(f"{base}/api/status?token={token}", proc, 120)
        url = printed_url(log_path, proc, token)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_notebook(page, url)
        run_all_until_started(page)
        page.wait_for_selector(".jp-NotebookPanel .ti-neuron", timeout=240_000)  # the last view has drawn
        page.wait_for_selector(".jp-StatusBar-Widget >> text=Idle", timeout=240_000)
        shown = page.locator(VIEWS).count()
        assert shown >= 2
        restart_kernels(base, token)
        page.wait_for_selector(".jp-StatusBar-Widget >> text=Idle", timeout=120_000)
        nb_file = work / "00_quickstart.ipynb"
        stamp = nb_file.stat().st_mtime
        page.locator(".jp-NotebookPanel").first.click(position={"x": 5, "y": 5})
        page.keyboard.press("Control+s")
        saved = saved_after(nb_file, stamp)
        refs = {
            o["data"][VIEW_MIME]["model_id"]
            for c in saved["cells"]
            for o in c.get("outputs", [])
            if VIEW_MIME in o.get("data", {})
        }
        assert refs <= saved_widget_ids(saved)  # no reference to a widget whose state was not saved
        page.reload()
        open_notebook(page, url)
        page.wait_for_selector(VIEWS, timeout=120_000)
        page.wait_for_function(f"document.querySelectorAll({VIEWS!r}).length >= {shown}", timeout=60_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "lab-after-restart.png"), full_page=True)
        assert page.locator(VIEWS).count() == shown
        assert page.get_by_text("Error displaying widget").count() == 0
    finally:
        stop_group(proc)
    # the lab kept its workspace and settings in its own folder; the user's (lab_env points them at ws/ and
    # settings/, as a user's environment may) were never written
    assert any((work / ".lab" / "workspaces").glob("*.jupyterlab-workspace"))
    assert not any((tmp_path / "ws").glob("*")) and not any((tmp_path / "settings").glob("*"))
