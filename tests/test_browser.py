"""Real browser tests (Playwright driving Debian's Chromium): a published report opens with no external request and
its views drawn; `tiny-interp lab` serves JupyterLab on loopback, runs the quickstart in the browser, and the
attention view appears. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from nb_fixtures import NOTEBOOKS
from tiny_interp.cli import main

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
# the element the attention view draws (AttentionExplorer: the selected head, large)
ATTENTION_VIEW = ".ti-root .ti-big"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def local(url: str) -> bool:
    u = urlparse(url)
    return u.scheme in ("file", "data", "blob", "about") or u.hostname in ("127.0.0.1", "localhost")


def test_report_opens_offline_with_views(browser, nb_run, tmp_path):
    out = tmp_path / "quickstart.html"
    assert main(["report", str(NOTEBOOKS / "00_quickstart.ipynb"), "--param", f"MODEL={nb_run}",
                 "--param", "MAX_NEW_TOKENS=20", "--out", str(out)]) == 0
    html = out.read_text()
    assert html.count("plotly.js v") == 1  # the notebook renderer and the view each brought a copy; one is kept
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri(), wait_until="load", timeout=60_000)
    page.wait_for_selector(ATTENTION_VIEW, timeout=60_000)
    page.wait_for_selector(".js-plotly-plot .heatmaplayer", timeout=60_000)  # the taxonomy map, via plotly.js
    assert page.locator(".ti-root .ti-tok").count() > 5
    assert page.locator("#toc a").count() >= 2 and "Run" in page.locator("#run-metadata").inner_text()
    assert str(nb_run) in page.locator("#run-metadata").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-quickstart.png"), full_page=True)
    external = [u for u in requests if not local(u)]
    assert external == [], external
    assert errors == [], errors


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def test_lab_runs_quickstart_in_browser(browser, nb_run, tmp_path):
    # a copy of the notebooks: the lab autosaves outputs, and the repository's notebooks must stay clean
    work = tmp_path / "lab"
    shutil.copytree(NOTEBOOKS, work / "notebooks")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tiny_interp.cli", "lab", "--model", str(nb_run), "--notebooks", str(work / "notebooks"),
         "--", "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         "--ServerApp.port_retries=0"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", proc, 120)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{base}/lab/tree/notebooks/00_quickstart.ipynb?token={token}", timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        page.wait_for_selector(".jp-StatusBar-Widget >> text=Idle", timeout=120_000)  # kernel connected
        run_all_until_started(page)
        try:
            page.wait_for_selector(f".jp-NotebookPanel {ATTENTION_VIEW}", timeout=180_000)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "lab-quickstart-failed.png"), full_page=True)
            raise
        page.locator(f".jp-NotebookPanel {ATTENTION_VIEW}").first.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "lab-quickstart.png"))
        assert "Once upon a time" in page.locator(".jp-NotebookPanel").inner_text()
        assert not page.locator(".jp-NotebookPanel .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count()
        (ARTIFACTS / "lab-requests.txt").write_text("\n".join(u for u in requests if not local(u)))
    finally:
        stop_group(proc)
        log.close()


def run_all_until_started(page, attempts: int = 4) -> None:
    """Run ▸ Run All Cells, again if the click landed before the kernel took requests (no cell started)."""
    started = ".jp-NotebookPanel .jp-InputPrompt:text-matches('\\[(\\*|\\d+)\\]')"
    for _ in range(attempts):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_selector(started, timeout=30_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells never started a cell")


def stop_group(proc: subprocess.Popen) -> None:
    """Stop the lab and its kernels (their own process group, started by this test)."""
    for sig, wait in ((15, 30), (9, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
