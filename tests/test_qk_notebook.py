"""notebooks/11_attention_why.ipynb runs on the shipped models (few stories) and writes its findings from the
figures it computes, importing only from ``tiny_interp``."""

from __future__ import annotations

import pytest
from conftest import TINYSTORIES, needs_shared
from nb_fixtures import NOTEBOOKS, text_of

from tiny_interp.report import execute_notebook, read_notebook


@needs_shared
@pytest.mark.slow
def test_attention_why_notebook(tmp_path):
    nb = read_notebook(NOTEBOOKS / "11_attention_why.ipynb")
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "committed without outputs"
    imports = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines() if "import" in line]
    assert all(line.startswith(("import tiny_interp", "from pathlib")) for line in imports), imports
    params = {
        "STORIES": str(TINYSTORIES / "valid.txt"),
        "N_STORIES": 2,
        "QUERIES": 1,
        "TAXONOMY_STORIES": 8,
        "MODELS_DIR": str(NOTEBOOKS.parent / "trained_models"),
    }
    out, _ = execute_notebook(nb, params, cwd=tmp_path, cell_timeout=600)
    text = text_of(out)
    assert "exact: pairs + rest" in text and "the key side is carried by" in text
    assert "**ts-1M-neo**" in text and "**ts-best**" in text and "key side leans most on" in text
