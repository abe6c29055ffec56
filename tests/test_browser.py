"""Real browser tests (Playwright driving Debian's Chromium): published reports are light (no plotly.js), open with no
external request and their views drawn; `tiny-interp lab` serves JupyterLab on loopback from the URL it prints,
runs the quickstart in the browser, keeps a pinned token across head changes, opens a clicked neuron, saves the
notebook with its widget state and shows the views again when it is reopened, all without touching the tracked
notebooks. Screenshots go to test-artifacts/."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
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

MB = 1024 * 1024

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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


def open_report(browser, path: Path, shot: str):
    """Open a report file; returns (page, requests to non-local URLs, page errors)."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load", timeout=60_000)
    page.wait_for_selector(ATTENTION_VIEW, timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return page, [u for u in requests if not local(u)], errors


def test_report_opens_offline_with_views(browser, nb_run, tmp_path):
    out = tmp_path / "quickstart.html"
    assert (
        main(
            [
                "report",
                str(NOTEBOOKS / "00_quickstart.ipynb"),
                "--param",
                f"MODEL={nb_run}",
                "--param",
                "MAX_NEW_TOKENS=20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    html = out.read_text()
    # the views draw their own heatmaps: no plotly.js on the page, and the report stays light
    assert "plotly.js v" not in html and out.stat().st_size <= 1 * MB, out.stat().st_size
    page, external, errors = open_report(browser, out, "report-quickstart.png")
    page.wait_for_selector(".ti-map .ti-cell", timeout=60_000)  # the taxonomy map, in the attention view
    assert page.locator(".ti-root").count() == 2  # the attention explorer and the story inspector
    assert page.locator(".ti-root .ti-tok").count() > 5
    # interactive without a kernel: a taxonomy click selects the head
    page.locator(".ti-map .ti-cell").nth(2).click()
    assert "head 2" in page.locator(".ti-root .ti-head").first.inner_text()
    assert page.locator("#toc a").count() >= 2 and "Run" in page.locator("#run-metadata").inner_text()
    assert str(nb_run) in page.locator("#run-metadata").inner_text()
    assert external == [], external
    assert errors == [], errors


def test_attention_heads_report_is_light(browser, nb_run, story_files, tmp_path):
    out = tmp_path / "heads.html"
    assert (
        main(
            [
                "report",
                str(NOTEBOOKS / "05_attention_heads.ipynb"),
                "--param",
                f"MODEL={nb_run}",
                "--param",
                f"STORIES={story_files[1]}",
                "--param",
                "N_STORIES=16",
                "--param",
                "MAX_LEN=48",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    html = out.read_text()
    assert "plotly.js v" not in html and out.stat().st_size <= 1.5 * MB, out.stat().st_size
    page, external, errors = open_report(browser, out, "report-attention-heads.png")
    assert page.locator("svg.ti-scatter circle").count() == 4  # every head on the paper's two axes
    assert page.locator(".ti-root .ti-big").count() == 3  # two example heads and the explorer
    assert external == [] and errors == [], (external, errors)


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


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.ipynb"))}


def printed_url(log: Path, proc: subprocess.Popen, token: str, timeout: float = 120) -> str:
    """The first URL that jupyter prints (a token given in the config is printed as "...": put it back)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = re.search(r"http://127\.0\.0\.1:\d+/\S*\?token=(\.\.\.|\w+)", log.read_text(errors="replace"))
        if m:
            return m.group(0).replace("token=...", f"token={token}")
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    raise TimeoutError("jupyter lab printed no URL")


def lab_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
    }


def open_notebook(page, url: str) -> None:
    page.goto(url, timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-StatusBar-Widget >> text=Idle", timeout=120_000)  # kernel connected


def shut_down_kernels(base: str, token: str) -> None:
    """Stop every kernel through the server's REST API (what closing the laptop does to a lab)."""
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as r:
        kernels = json.load(r)
    for k in kernels:
        req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30).close()


def test_lab_runs_quickstart_in_browser(browser, nb_run, tmp_path):
    tracked = digests(NOTEBOOKS)
    work = tmp_path / "work"
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "lab.log"
    # the child keeps its own copy of the log's descriptor: ours can close once it has started
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tiny_interp.cli",
                "lab",
                "--model",
                str(nb_run),
                "--workdir",
                str(work),
                "--",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                f"--IdentityProvider.token={token}",
                "--ServerApp.port_retries=0",
            ],
            env=lab_env(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    view = f".jp-NotebookPanel {ATTENTION_VIEW}"
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status?token={token}", proc, 120)
        url = printed_url(log_path, proc, token)
        assert "/lab/tree/00_quickstart.ipynb" in url, url  # the printed URL opens the quickstart itself
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        open_notebook(page, url)
        run_all_until_started(page)
        try:
            page.wait_for_selector(view, timeout=180_000)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "lab-quickstart-failed.png"), full_page=True)
            raise
        root = page.locator(".jp-NotebookPanel .ti-root").first
        root.scroll_into_view_if_needed()
        # pin a token, flip heads: the pin stays (the view changes heads itself, the kernel only hears of it)
        root.locator(".ti-tokens .ti-tok").nth(6).click()
        root.locator(".ti-thumb").nth(3).click()
        assert "head 3" in root.locator(".ti-head").first.inner_text()
        assert "[pinned]" in root.locator(".ti-info").inner_text() and root.locator(".ti-tok.ti-pin").count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "lab-quickstart.png"))
        assert "Once upon a time" in page.locator(".jp-NotebookPanel").inner_text()
        assert not page.locator(
            ".jp-NotebookPanel .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback"
        ).count()
        assert page.get_by_text("Jupyter news").count() == 0  # no news prompt
        # a neuron clicked in the story inspector opens a NeuronExplorer (offering to build the missing atlas)
        page.wait_for_selector(".jp-NotebookPanel .ti-neuron", timeout=120_000)
        page.locator(".jp-NotebookPanel .ti-neuron").first.click()
        page.wait_for_selector(".jp-NotebookPanel >> text=no neuron atlas", timeout=60_000)
        # save, stop the kernel, reopen: the views come back from the saved widget state
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 60
        while "widget-state" not in (work / "00_quickstart.ipynb").read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        saved = json.loads((work / "00_quickstart.ipynb").read_text())
        assert "application/vnd.jupyter.widget-state+json" in saved["metadata"].get("widgets", {})
        shut_down_kernels(base, token)
        open_notebook(page, url)
        page.wait_for_selector(view, timeout=120_000)
        page.locator(view).first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "lab-reopened.png"))
        assert page.get_by_text("Error displaying widget").count() == 0
        (ARTIFACTS / "lab-requests.txt").write_text("\n".join(u for u in requests if not local(u)))
    finally:
        stop_group(proc)
    assert digests(NOTEBOOKS) == tracked  # the lab worked on copies: the tracked notebooks are untouched


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
