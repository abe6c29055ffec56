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


def _options_without_help(parser, path):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options_without_help(sub, [*path, name])
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            yield f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"


def test_every_option_of_every_command_has_help():
    from tiny_interp.cli import build_parser

    parser = build_parser()
    assert list(_options_without_help(parser, ["tiny-interp"])) == []
    import argparse

    bare = argparse.ArgumentParser()
    bare.add_argument("--undocumented")
    assert list(_options_without_help(bare, ["x"])) == ["x --undocumented"]  # the walk does see a missing help


def test_options_are_generated_from_the_configs():
    import dataclasses

    from tiny_interp.cli import build_parser
    from tiny_interp.features.config import SAETrainConfig
    from tiny_interp.features.kinds import ARCHITECTURES
    from tiny_interp.graphs.config import GraphConfig

    parser = build_parser()
    sae_train = parser.parse_args(["sae", "train", "m", "--data", "d", "--out", "o", "--arch", "transcoder"])
    assert sae_train.architecture == "transcoder"
    with pytest.raises(SystemExit):
        parser.parse_args(["sae", "train", "m", "--data", "d", "--out", "o", "--arch", "nonsense"])
    hint = SAETrainConfig.__annotations__["architecture"]
    assert hint == "Architecture" and ARCHITECTURES == ("standard", "topk", "batchtopk", "jumprelu", "transcoder")
    graph = parser.parse_args(["graph", "m", "--prompt", "p", "--transcoders", "t", "--out", "o", "--max-logits", "3"])
    from tiny_interp.cli_args import config_from_args

    assert config_from_args(GraphConfig, graph) == GraphConfig(max_logits=3)
    assert {f.name for f in dataclasses.fields(GraphConfig)} <= set(vars(graph))


@pytest.mark.parametrize(
    "cls",
    [
        "tiny_interp.train.config:TrainConfig",
        "tiny_interp.features.config:SAETrainConfig",
        "tiny_interp.graphs.config:GraphConfig",
        "tiny_interp.model.config:ModelConfig",
    ],
)
def test_configs_reject_an_unknown_key_naming_it_and_the_file(cls):
    import dataclasses
    import importlib

    from tiny_interp.errors import ConfigError

    module, name = cls.split(":")
    config = getattr(importlib.import_module(module), name)
    good = config(preset="1M") if name == "TrainConfig" else config()
    assert config.from_dict(good.to_dict()) == good
    field = dataclasses.fields(config)[1].name
    typo = field[:-1] + field[-1].upper() + "x"
    with pytest.raises(ConfigError, match=rf"'{typo}' \(did you mean '{field}'.*\).* in runs/x/cfg\.json"):
        config.from_dict({**good.to_dict(), typo: 3}, source="runs/x/cfg.json")


def test_a_model_with_a_misspelt_config_key_names_its_file(tmp_path):
    import shutil

    from tiny_interp.errors import ConfigError
    from tiny_interp.model.checkpoint import model_config_of

    src = REPO / "trained_models" / "ts-1L"
    if not (src / "model.safetensors").is_file():
        pytest.skip("shipped ts-1L is not in this checkout")
    copy = tmp_path / "m"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("saes", "atlas"))
    meta = json.loads((copy / "tiny_interp.json").read_text())
    meta["model_config"]["n_layer"] = 1
    (copy / "tiny_interp.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"'n_layer' \(did you mean 'n_layers'.* in .*tiny_interp\.json"):
        model_config_of(copy)
