"""Every notebook in notebooks/ runs top to bottom with small parameters (a one-layer tiny model trained by the
01_train notebook itself, the conftest stories, a loopback OpenAI stub for the LLM notebooks) and fails on any error.

The notebooks are also checked to be committed without outputs and to carry a tagged parameters cell."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from llm_stub import StubServer, last_text
from nb_fixtures import NOTEBOOKS, TRAIN_STEPS, run_nb, text_of, train_params

from tiny_interp.llm.records import latest_records
from tiny_interp.report import declared_parameters


def test_notebooks_are_clean_and_parameterised():
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == [
        "00_quickstart",
        "01_train",
        "02_synthesize_dataset",
        "03_generate_completions",
        "04_grade",
        "05_attention_heads",
        "06_neurons",
        "07_training_dynamics",
        "08_features",
        "09_autointerp",
        "10_attribution_graphs",
        "11_attention_why",
    ]
    for name in names:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: first code cell is not tagged parameters"
        assert declared_parameters(nb), name
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name} has outputs"


def test_01_train_resumes(nb_run, story_files, tmp_path):
    nb = run_nb("01_train", tmp_path, **train_params(story_files, nb_run, TRAIN_STEPS + 8))
    lines = (nb_run / "metrics.jsonl").read_text().splitlines()
    assert {"event": "resume", "step": TRAIN_STEPS} in [json.loads(l) for l in lines]
    assert json.loads(lines[-1])["step"] == TRAIN_STEPS + 8
    assert "--resume" in text_of(nb)


def test_00_quickstart(nb_run, tmp_path):
    nb = run_nb("00_quickstart", tmp_path, MODEL=str(nb_run), MAX_NEW_TOKENS=16)
    assert "Once upon a time" in text_of(nb)


def test_05_attention_heads(nb_run, story_files, tmp_path):
    nb = run_nb(
        "05_attention_heads", tmp_path, MODEL=str(nb_run), STORIES=str(story_files[1]), N_STORIES=16, MAX_LEN=48
    )
    text = text_of(nb)
    assert "1 layer(s) x 4 heads" in text and re.search(r"distance|semantic|other", text)


def test_06_neurons(nb_run, story_files, tmp_path):
    atlas = tmp_path / "atlas"
    nb = run_nb("06_neurons", tmp_path, MODEL=str(nb_run), STORIES=str(story_files[1]), N_STORIES=24, ATLAS=str(atlas))
    assert any(atlas.iterdir())
    assert "atlas of 128 neurons" in text_of(nb)


def test_07_training_dynamics(nb_run, story_files, tmp_path):
    nb = run_nb(
        "07_training_dynamics", tmp_path, RUN=str(nb_run), STORIES=str(story_files[1]), N_STORIES=4, NEURONS=[[0, 1]]
    )
    n = len(list((nb_run / "checkpoints").glob("step-*")))
    assert n >= 3 and f"{n} checkpoints" in text_of(nb)


def test_08_features(nb_run, story_files, tmp_path):
    saes = tmp_path / "saes"
    nb = run_nb(
        "08_features",
        tmp_path,
        MODEL=str(nb_run),
        SAES=str(saes),
        STORIES=str(story_files[1]),
        N_STORIES=24,
        TRAIN_DATA=str(story_files[0]),
        TRAIN_TOKENS=8192,
        LATENTS=64,
    )
    text = text_of(nb)
    assert (saes / "atlas" / "atlas.json").is_file() and "feature atlas of 64 features" in text
    assert "neuron_precision" in text and "feature_precision" in text


def story_answer(body: dict, n: int):
    w = re.findall(r'the (?:verb|noun|adjective) "(\w+)"', last_text(body))
    return ("ok", f"Once upon a time a cat liked to {w[0]}. It found a {w[2]} {w[1]}.\n\nThe cat was happy.")


def grade_answer(body: dict, n: int):
    return (
        "ok",
        json.dumps(
            {"assessment": "fine", "grammar": 6, "creativity": 5, "consistency": 7, "plot": 4, "age_group": "B"}
        ),
    )


def test_02_synthesize_dry_run_then_loopback(tmp_path):
    out = tmp_path / "stories.jsonl"
    nb = run_nb("02_synthesize_dataset", tmp_path, N=4, OUT=str(out))  # defaults: dry run, no network
    assert "dry run: 4 requests prepared" in text_of(nb) and not out.exists()
    with StubServer(story_answer) as server:
        nb = run_nb(
            "02_synthesize_dataset",
            tmp_path,
            N=4,
            OUT=str(out),
            DRY_RUN=False,
            BASE_URL=server.base_url,
            LLM_MODEL="stub",
        )
        assert len(server.requests) == 4
    recs = latest_records(out)
    assert len(recs) == 4 and all(r["status"] == "done" and r["result"]["missing_words"] == [] for r in recs.values())
    assert "4 finished stories" in text_of(nb)


def test_03_completions_then_04_grade(nb_run, tmp_path):
    comp = tmp_path / "comp.jsonl"
    nb = run_nb(
        "03_generate_completions",
        tmp_path,
        MODEL=str(nb_run),
        N=2,
        MAX_NEW_TOKENS=12,
        MAX_PROMPTS=6,
        KINDS=["story", "knowledge"],
        OUT=str(comp),
    )
    recs = latest_records(comp)
    assert len(recs) == 12 and "▶" in text_of(nb)
    grades = tmp_path / "grades.jsonl"
    nb = run_nb("04_grade", tmp_path, COMPLETIONS=str(comp), OUT=str(grades))  # dry run: prompts only
    assert "***" in text_of(nb) and not grades.exists()
    assert "| TinyStories-1M | 64 x 8 | 6.14 | 4.68 | 4.45 | - |" in text_of(nb)  # the paper's Figure 4 side table
    n_story = sum(r["kind"] == "story" for r in recs.values())
    with StubServer(grade_answer) as server:
        nb = run_nb(
            "04_grade",
            tmp_path,
            COMPLETIONS=str(comp),
            OUT=str(grades),
            DRY_RUN=False,
            BASE_URL=server.base_url,
            LLM_MODEL="stub",
        )
        assert len(server.requests) == n_story
    assert sum(r["status"] == "done" for r in latest_records(grades).values()) == n_story
    assert "6.00" in text_of(nb)  # the grammar mean in the table


# ---- the lab from anywhere: paths, models and errors resolve the same in the lab, a report and a terminal


def test_paths_resolve_from_the_repository_root_wherever_the_kernel_runs(tmp_path, monkeypatch):
    from tiny_interp.defaults import REPO_ROOT
    from tiny_interp.errors import ConfigError
    from tiny_interp.workbench.paths import model_arg, repo_path

    monkeypatch.chdir(tmp_path)  # e.g. a report's --cwd, or a kernel started in notebooks/
    assert repo_path("notebooks/00_quickstart.ipynb") == REPO_ROOT / "notebooks" / "00_quickstart.ipynb"
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_quickstart.ipynb").write_text("{}")
    assert repo_path("notebooks/00_quickstart.ipynb") == tmp_path / "notebooks" / "00_quickstart.ipynb"  # cwd first
    shipped = REPO_ROOT / "trained_models" / "ts-1L"
    if shipped.exists():
        assert model_arg("trained_models/ts-1L") == str(shipped)
    assert model_arg("roneneldan/TinyStories-33M") == "roneneldan/TinyStories-33M"  # a hub id stays one
    with pytest.raises(ConfigError, match=f"no model at trained_models/nope .*{tmp_path}.*{REPO_ROOT}"):
        model_arg("trained_models/nope")
    with pytest.raises(ConfigError, match="stories ../shared/nope.txt does not exist"):
        repo_path("../shared/nope.txt", "stories")


def test_lab_kernels_start_at_the_repository_root():
    from tiny_interp.defaults import REPO_ROOT
    from tiny_interp.workbench.lab_kernels import RepoRootKernelManager

    assert RepoRootKernelManager(root_dir=str(REPO_ROOT)).cwd_for_path("runs/lab/00_quickstart.ipynb") == str(REPO_ROOT)


def test_lab_refuses_a_wrong_model_before_starting(tmp_path, capsys):
    from tiny_interp.cli import main

    assert main(["lab", "--model", str(tmp_path / "no-such-model"), "--workdir", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no-such-model" in err[0]
    assert not (tmp_path / "work").exists()  # nothing copied, no server started


def test_lab_copies_notebooks_once_and_keeps_the_users(tmp_path):
    from tiny_interp.workbench.lab_copy import copy_notebooks

    src, work = tmp_path / "src", tmp_path / "work"
    src.mkdir()
    (src / "a.ipynb").write_text('{"v": 1}')
    assert copy_notebooks(src, work) == [] and (work / "a.ipynb").read_text() == '{"v": 1}'
    (work / "a.ipynb").write_text('{"v": "mine, with outputs"}')
    (src / "a.ipynb").write_text('{"v": 2}')
    notes = copy_notebooks(src, work)
    assert (work / "a.ipynb").read_text() == '{"v": "mine, with outputs"}'  # never overwritten
    assert len(notes) == 1 and "changed since" in notes[0]


def test_a_wrong_path_in_a_notebook_is_one_line(tmp_path):
    from tiny_interp.report.execute import NotebookError

    with pytest.raises(NotebookError) as e:
        run_nb("05_attention_heads", tmp_path, MODEL="trained_models/nope")
    message = str(e.value)
    assert "cell 3 of the notebook failed: ConfigError: no model at trained_models/nope" in message
    assert "Traceback" not in message


def test_06_default_model_is_the_same_in_the_lab_and_in_reports(monkeypatch):
    from tiny_interp.defaults import MODEL_ENV, SHIPPED_MODELS
    from tiny_interp.workbench.paper import neuron_model

    monkeypatch.delenv(MODEL_ENV, raising=False)
    in_report = neuron_model()
    monkeypatch.setenv(MODEL_ENV, str(SHIPPED_MODELS / "ts-1L"))  # what `make lab` sets
    assert neuron_model() == in_report
    if (SHIPPED_MODELS / "ts-1M-neo" / "model.safetensors").exists():
        assert in_report == SHIPPED_MODELS / "ts-1M-neo"
