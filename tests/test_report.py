"""Reports: parameter parsing and injection, CDN stripping, and `tiny-interp report` end to end on real notebooks."""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from tiny_interp.cli import main
from tiny_interp.errors import ConfigError
from tiny_interp.report import declared_parameters, inject_parameters, parse_params, remote_references
from tiny_interp.report.html import strip_remote, table_of_contents
from tiny_interp.workbench.live import loss_figure, train_argv
from tiny_interp.workbench.paper import head_kinds


def small_notebook(path, body: str = "print(N * 2, LABEL)"):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Small report\n\nText."),
        nbformat.v4.new_code_cell("N = 3\nLABEL = 'a'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## Result"),
        nbformat.v4.new_code_cell(body),
    ]
    nbformat.write(nb, path)
    return path


def test_parse_params_literals_and_plain_text():
    p = parse_params(["N=5", "X=2.5", "FLAG=True", "NONE=None", "L=[1, 2]", "PATH=../shared/x.txt", "S='q'"])
    assert p == {"N": 5, "X": 2.5, "FLAG": True, "NONE": None, "L": [1, 2], "PATH": "../shared/x.txt", "S": "q"}
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_params(["no-equals"])


def test_inject_after_parameters_cell_and_refuse_unknown(tmp_path):
    nb = nbformat.read(small_notebook(tmp_path / "a.ipynb"), as_version=4)
    assert declared_parameters(nb) == {"N": 3, "LABEL": "a"}
    out = inject_parameters(nb, {"N": 7})
    assert out.cells[2].metadata["tags"] == ["injected-parameters"] and "N = 7" in out.cells[2].source
    again = inject_parameters(out, {"N": 8})  # replaces, never stacks
    assert sum("injected-parameters" in c.metadata.get("tags", []) for c in again.cells) == 1
    with pytest.raises(ConfigError, match="unknown parameter.*NN.*takes: LABEL, N"):
        inject_parameters(nb, {"NN": 1})


def test_strip_remote_leaves_nothing_to_fetch():
    page = (
        '<html><head><script src="https://cdnjs.cloudflare.com/require.js"></script>'
        '<link rel="stylesheet" href="https://fonts.example/x.css"><style>@import url("https://x/y.css");</style>'
        '<script type="module">const m = (await import("https://cdn/mermaid.mjs")).default;</script>'
        '<script type="text/x-mathjax-config">MathJax.Hub.Config({});</script></head>'
        '<body><a href="https://example.com">ok</a><script>var a = 1;</script></body></html>'
    )
    assert len(remote_references(page)) >= 4
    clean = strip_remote(page)
    assert remote_references(clean) == []
    assert '<a href="https://example.com">' in clean and "var a = 1" in clean


def test_table_of_contents():
    toc, n = table_of_contents('<h1 id="Top">Top<a class="anchor-link" href="#Top">¶</a></h1><h2 id="B-c">B c</h2>')
    assert n == 2 and 'href="#Top"' in toc and ">B c<" in toc and "¶" not in toc


def test_workbench_helpers():
    argv = train_argv(
        "tiny",
        "t.txt",
        "out",
        10,
        val_data="v.txt",
        resume=True,
        batch_size=4,
        set=["n_layers=1"],
        compile=False,
        max_stories=None,
    )
    assert argv == [
        "train",
        "--preset",
        "tiny",
        "--data",
        "t.txt",
        "--out",
        "out",
        "--max-steps",
        "10",
        "--val-data",
        "v.txt",
        "--resume",
        "--batch-size",
        "4",
        "--set",
        "n_layers=1",
    ]
    fig = loss_figure([{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.5, "val_loss": 2.6, "val_bpb": 1.1}])
    assert [t.name for t in fig.data] == [
        "train loss",
        "val loss",
        "val bits/byte",
    ] and "step 2" in fig.layout.title.text
    import pandas as pd

    table = pd.DataFrame(
        {
            "layer": [0, 0, 0, 0],
            "head": [0, 1, 2, 3],
            "offset_share": [0.9, 0.1, 0.2, 0.3],
            "local_mass": [0.95, 0.2, 0.3, 0.8],
            "lift_names": [1.0, 4.0, 1.2, 0.5],
            "lift_objects": [0.5, 1.0, 3.0, 0.5],
            "label": ["previous-token", "semantic:names", "diffuse", "distance"],
        }
    )
    kinds = head_kinds(table)
    assert list(kinds["kind"]) == ["distance", "semantic", "other", "distance"]
    assert list(kinds["semantic_lift"]) == [1.0, 4.0, 3.0, 0.5] and list(kinds["distance_score"]) == [
        0.95,
        0.2,
        0.3,
        0.8,
    ]


def test_report_command_small_notebook(tmp_path, capfd):
    nb = small_notebook(
        tmp_path / "small.ipynb",
        "import plotly.express as px, plotly.io as pio\n"
        "pio.renderers.default = 'plotly_mimetype+notebook'\nprint('value', N * 2, LABEL)\n"
        "from tiny_interp.report import note_run\nnote_run(model='my-model', data='my-data')\n"
        "px.line(x=[1, 2, 3], y=[N, 1, 2]).show()\npx.bar(x=[1, 2], y=[2, 1]).show()",
    )
    out = tmp_path / "r" / "small.html"
    assert main(["report", str(nb), "--param", "N=21", "-p", "LABEL=hello world", "--out", str(out)]) == 0
    page = out.read_text()
    assert "value 42 hello world" in page
    assert page.count("plotly.js v") == 1 and page.count("Plotly.newPlot") == 2  # library once, two figures
    assert remote_references(page) == []
    assert 'id="toc"' in page and 'href="#Small-report"' in page and 'href="#Result"' in page
    meta = json.loads(re.search(r'<script type="application/json" id="tiny-interp-run">(.*?)</script>', page).group(1))
    assert (
        meta["model"] == "my-model"
        and meta["data"] == "my-data"
        and meta["parameters"] == {"N": 21, "LABEL": "hello world"}
    )
    assert meta["tiny_interp_version"] and meta["date"] and "git_commit" in meta
    assert not list(out.parent.glob("*.tmp*"))

    # a failing cell: an error naming it, the earlier report untouched, the executed copy saved
    bad = small_notebook(tmp_path / "bad.ipynb", "raise RuntimeError('boom in cell')")
    before = out.read_bytes()
    assert main(["report", str(bad), "--out", str(out), "--save-executed", str(tmp_path / "bad.out.ipynb")]) == 2
    assert "boom in cell" in capfd.readouterr().err
    assert out.read_bytes() == before and (tmp_path / "bad.out.ipynb").exists()
    assert main(["report", str(bad), "--param", "TYPO=1", "--out", str(out)]) == 2
    assert "unknown parameter(s) TYPO" in capfd.readouterr().err


def test_llm_dry_run_helpers(monkeypatch):
    from tiny_interp.llm.synth import SynthConfig, synth_items
    from tiny_interp.workbench.llm import endpoint_mode, items_table

    items = synth_items(SynthConfig(n=6, seed=1, feature_prob=1.0))
    t = items_table(items, 3)
    assert list(t["id"]) == [it.id for it in items[:3]] and all(len(w.split(", ")) == 3 for w in t["words"])
    assert t["prompt"][0] == items[0].messages[-1]["content"]
    assert endpoint_mode(None, True) == "dry-run"
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="DRY_RUN is False but there is no endpoint"):
        endpoint_mode(None, False)
    assert endpoint_mode("http://127.0.0.1:9/v1", False) == "live"


def test_paper_word_classes(bpe_tokenizer):
    from tiny_interp.workbench.paper import paper_word_classes

    classes = paper_word_classes(bpe_tokenizer)
    assert set(classes) == {"names", "actions", "adjectives"}
    decoded = {name: {bpe_tokenizer.decode([i]).strip().lower() for i in ids} for name, ids in classes.items()}
    from tiny_interp.lexicon import ADJECTIVES, NAMES, VERBS

    assert decoded["names"] <= NAMES  # a 512-token vocabulary may hold no whole name
    assert decoded["actions"] and decoded["actions"] <= {w.lower() for w in VERBS}
    assert decoded["adjectives"] and decoded["adjectives"] <= {w.lower() for w in ADJECTIVES}
