"""The graph against the real shipped model: ablating the top-attributed features of ts-1M-neo (with its shipped
per-layer transcoders) moves the target logit more than ablating as many random active features, and the graph's
predicted single-feature effects correlate significantly with the measured ones. Skipped until the transcoders are
shipped."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "trained_models" / "ts-1M-neo"
# Pearson r over 40 pairs above which a positive correlation is significant (one-sided p < 0.05: t = 1.686, 38 df);
# measured r = 0.64 and 0.28 with the transcoders shipped on 2026-12-02 (0.82 and 0.32 with the earlier ones)
R_CRIT_40 = 0.264
PROMPTS = [
    ("Lily and Tom went to the park. Lily gave the ball to", " Tom"),
    ("Tom found a shiny red ball in the", None),
]


@pytest.mark.skipif(not (MODEL / "saes").is_dir(), reason="ts-1M-neo's transcoders are not shipped yet")
@pytest.mark.parametrize("prompt,target", PROMPTS)
def test_top_attributed_features_beat_random_ones_in_the_real_model(prompt, target):
    from tiny_interp.graphs.api import open_graph_model
    from tiny_interp.graphs.trace import trace

    t = trace(open_graph_model(MODEL, MODEL / "saes"), prompt, target=target)
    check = t.check(k=10)
    print(
        f"{prompt!r}: top-10 {check.top_effect:.3f} vs random {check.random_effect:.3f}; "
        f"r = {check.correlation:.2f} over {check.n_compared} features; error share {t.fidelity.error_share_top:.3f}"
    )
    assert check.top_effect > 2 * check.random_effect
    assert check.n_compared == 40 and check.correlation > R_CRIT_40
