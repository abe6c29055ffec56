"""The public API: everything a notebook needs comes from ``tiny_interp``, resolved lazily, and the notebooks use
nothing else."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import tiny_interp

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
REQUIRED = [
    "Model",
    "load",
    "AttentionExplorer",
    "NeuronExplorer",
    "StoryInspector",
    "FeatureExplorer",
    "GraphView",
    "TrainConfig",
    "train_model",
    "SAE",
    "load_sae",
    "SAETrainConfig",
    "SAETrainer",
    "build_atlas",
    "build_feature_atlas",
    "FeatureAtlas",
    "run_autointerp",
    "AutointerpConfig",
    "open_graph_model",
    "trace",
    "GraphConfig",
    "note_run",
    "build_report",
]


def test_every_export_resolves_to_what_it_names():
    assert set(REQUIRED) <= set(tiny_interp.__all__)
    for name in tiny_interp.__all__:
        value = getattr(tiny_interp, name)
        assert not isinstance(value, types.ModuleType), f"tiny_interp.{name} is a module, not the thing it names"
    assert tiny_interp.Model.__module__ == "tiny_interp.model.handle"
    assert set(tiny_interp.__all__) <= set(dir(tiny_interp))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = tiny_interp.no_such_name


def test_import_stays_light():
    heavy = "('torch', 'transformers', 'ipywidgets')"
    code = f"import sys, tiny_interp; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_load_still_opens_a_bridge():
    path = REPO / "trained_models" / "ts-1L"
    if not (path / "model.safetensors").is_file():
        pytest.skip("shipped ts-1L is not in this checkout")
    bridge = tiny_interp.load("ts-1L")
    assert type(bridge).__name__ == "TransformerBridge" and Path(bridge.model_path) == path


def _code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _deep_imports(source: str) -> list[str]:
    # IPython magics are not Python; the notebooks' code cells otherwise parse as modules
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tiny_interp."):
            bad.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Import):
            bad += [f"import {a.name}" for a in node.names if a.name.startswith("tiny_interp.")]
    return bad


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_only_from_tiny_interp(notebook):
    bad = [imp for cell in _code_cells(notebook) for imp in _deep_imports(cell)]
    assert bad == [], f"{notebook.name} imports past the public API: {bad}"
    for cell in _code_cells(notebook):
        tree = ast.parse("\n".join(l for l in cell.splitlines() if not l.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "tiny_interp":
                missing = [a.name for a in node.names if a.name not in tiny_interp.__all__]
                assert missing == [], f"{notebook.name} imports {missing}, which tiny_interp does not export"


def test_the_deep_import_check_can_fail():
    assert _deep_imports("from tiny_interp.model.checkpoint import load_tinylm") != []
    assert _deep_imports("import tiny_interp.widgets") != []
    assert _deep_imports("from tiny_interp import Model\nimport tiny_interp") == []


def test_quickstart_opens_one_model_once():
    source = "\n".join(_code_cells(REPO / "notebooks" / "00_quickstart.ipynb"))
    assert source.count("Model.from_pretrained(") == 1
    for other in ("tiny_interp.load(", "load_tinylm", "load_tokenizer", "bridge"):
        assert other not in source, f"the quickstart opens the model a second way ({other})"
