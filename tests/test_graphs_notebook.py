"""notebooks/10_attribution_graphs runs top to bottom on a tiny random model with random transcoders.

The shipped run (ts-1M-neo with its trained transcoders) is what the notebook is for; this test checks the
notebook's code, with the small model the notebook tests use everywhere else."""

from __future__ import annotations

import re

from nb_fixtures import run_nb, text_of
from test_graphs import _save, random_transcoders

from tiny_interp.model.checkpoint import load_tinylm


def test_10_attribution_graphs(tmp_path, make_model_dir):
    path = make_model_dir("tiny", window_size=6)
    _save(random_transcoders(load_tinylm(path), True, "relu"), tmp_path / "tcs")
    nb = run_nb(
        "10_attribution_graphs",
        tmp_path,
        MODEL=str(path),
        TRANSCODERS=str(tmp_path / "tcs"),
        NAME_TARGET=None,
        K_ABLATE=3,
    )
    text = text_of(nb)
    assert "strongest paths into the top logit" in text and "error share" in text
    assert re.search(r"predicted vs measured single-feature ablations: r = -?\d", text)
    assert text.count('data-tiny-interp="graph"') >= 1  # the views' static twins
