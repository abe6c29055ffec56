"""One default model per notebook: each notebook's own model-choosing statement (run from the notebook's code, not
re-typed here) opens the same model in a terminal at the repository root, in a report's kernel (another working
folder) and in the lab's kernel (its environment as `tiny-interp lab` builds it), and that model is the one the
notebook's parameter comment documents."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest
from nb_fixtures import NOTEBOOKS

from tiny_interp.defaults import MODEL_ENV, REPO_ROOT, SHIPPED_MODELS

MODEL_PARAMS = ("MODEL", "RUN")
DOCUMENTED = re.compile(r"\b(ts-1L|ts-1M-neo)\b")
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


def model_choice(name: str) -> tuple[str, str, str, str] | None:
    """(parameter, its documented default, the code that picks the model, the variable it binds) or None."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    params_cell, setup_cell = [c.source for c in nb.cells if c.cell_type == "code"][:2]
    param = next((p for p in MODEL_PARAMS if re.search(rf"^{p} = ", params_cell, re.M)), None)
    if param is None:
        return None
    comment = re.search(rf"^{param} = .*#(.*)$", params_cell, re.M)
    documented = DOCUMENTED.search(comment.group(1) if comment else "")
    assert documented, f"{name}: the {param} comment names no shipped default model"
    tree = ast.parse(setup_cell)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    picks = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign) and any(isinstance(x, ast.Name) and x.id == param for x in ast.walk(n.value))
    ]
    assert picks, f"{name}: no statement of its setup cell reads {param}"
    target = picks[0].targets[0]
    assert isinstance(target, ast.Name)
    code = params_cell + "\n" + ast.unparse(ast.Module(body=[*imports, picks[0]], type_ignores=[]))
    return param, documented.group(1), code, target.id


def opened(code: str, var: str) -> Path:
    ns: dict = {}
    exec(compile(code, "<notebook>", "exec"), ns)
    return Path(str(ns[var])).resolve()


def in_context(code: str, var: str, env: dict[str, str], cwd: Path, monkeypatch) -> Path:
    with monkeypatch.context() as m:
        for key in set(os.environ) - set(env):
            m.delenv(key)
        for key, value in env.items():
            m.setenv(key, value)
        m.chdir(cwd)
        return opened(code, var)


@pytest.mark.parametrize("name", NAMES)
def test_each_notebook_opens_its_documented_default_everywhere(name, tmp_path, monkeypatch):
    if not (SHIPPED_MODELS / "ts-1L" / "model.safetensors").exists():
        pytest.skip("no shipped trained_models/ (the defaults are the shipped models)")
    choice = model_choice(name)
    if choice is None:
        pytest.skip(f"{name} opens no model")
    _, documented, code, var = choice
    from tiny_interp.report.execute import kernel_env
    from tiny_interp.workbench.lab_kernels import RepoRootKernelManager
    from tiny_interp.workbench.lab_setup import lab_environment

    monkeypatch.delenv(MODEL_ENV, raising=False)  # the user's own choice is theirs; here: no choice made
    terminal = in_context(code, var, dict(os.environ), REPO_ROOT, monkeypatch)
    report = in_context(code, var, kernel_env(), tmp_path, monkeypatch)
    lab_cwd = Path(RepoRootKernelManager(root_dir=str(REPO_ROOT)).cwd_for_path(f"runs/lab/{name}.ipynb"))
    lab = in_context(code, var, lab_environment(None), lab_cwd, monkeypatch)
    assert terminal == report == lab, (terminal, report, lab)
    assert terminal == (SHIPPED_MODELS / documented).resolve(), f"{name} opens {terminal}, documents {documented}"


def test_lab_sets_the_model_only_when_asked(monkeypatch):
    from tiny_interp.workbench.lab_setup import lab_environment

    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert MODEL_ENV not in lab_environment(None)
    assert lab_environment("trained_models/ts-1L")[MODEL_ENV] == "trained_models/ts-1L"
