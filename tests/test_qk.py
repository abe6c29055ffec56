"""QK attribution is exact: on the shipped models of both families (rotary included, past gpt-neo's local window),
the parts' pair terms sum to the model's own pre-softmax score, the marginals are the pair table's row and column
sums, the contrast's sides sum to its value, and the JSON contract holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tiny_interp.errors import DataError
from tiny_interp.features.sae import load_sae
from tiny_interp.qk import attention_why, explainer_for
from tiny_interp.qk.engine import allowed_keys, pair_table
from tiny_interp.qk.sources import source_values
from tiny_interp.qk.why import encode_prompt, explain

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "trained_models"
TOL = 1e-4


def long_ids(ex, story_texts, n: int) -> torch.Tensor:
    ids: list[int] = []
    for text in story_texts:
        ids += encode_prompt(ex, text).tolist()
        if len(ids) >= n:
            break
    return torch.tensor(ids[:n])


def check_exact(ex, ids: torch.Tensor, layer: int, head: int, query: int) -> None:
    split = ex.split(ids, layer)
    ak = ex.all_keys(split, head, query)
    allowed = allowed_keys(split, head, query)
    model = split.scores[head, query, allowed]
    assert (ak.scores[allowed] - model).abs().max() < TOL
    for key in allowed[torch.randperm(len(allowed))[:4]].tolist():
        k = ex.key_side(split, ak, key)
        table = pair_table(ak, k)
        assert abs(float(table.sum()) - float(split.scores[head, query, key])) < TOL
        why = explain(ex, ids, layer, head, query, key)
        rows = {t.id: t.value for t in why.query_marginals}
        cols = {t.id: t.value for t in why.key_marginals}
        assert len(rows) == table.shape[0] and len(cols) == table.shape[1]
        assert abs(sum(rows.values()) - why.score) < TOL and abs(sum(cols.values()) - why.score) < TOL
        row_sums = sorted(table.sum(1).tolist())
        assert max(abs(a - b) for a, b in zip(row_sums, sorted(rows.values()))) < 1e-9
        for t in why.query_marginals[:10] + why.key_marginals[:10]:
            if t.detail["kind"] == "head":  # the head's term split exactly over the positions it read
                side = "q" if t in why.query_marginals else "k"
                other = ak.k_total[key] if side == "q" else ak.query.vecs.sum(0)
                total = float(source_values(ex, split, ak.form, t, side, other * ak.form.attn_scale).sum())
                assert abs(total - t.value) < TOL and len(t.detail["sources"]) == 3
        data = why.to_json()
        assert abs(sum(p["value"] for p in data["pairs"]) + data["rest"] - data["score"]) < TOL
        assert data["input_ids"] == ids.tolist()
        if why.contrast is not None:
            c = why.contrast
            assert abs(sum(t.value for t in c.query) - c.value) < TOL
            assert abs(sum(t.value for t in c.key) - c.value) < TOL


def test_gpt_neo_with_transcoders_past_local_window(story_texts):
    ex = explainer_for(MODELS / "ts-1M-neo", MODELS / "ts-1M-neo" / "saes")
    ids = long_ids(ex, story_texts, 300)
    assert ex.model.cfg.window_size < 300
    for layer, head in [(0, 2), (3, 5), (6, 11), (7, 0)]:  # local layers 3 and 7: keys before 300-256 are masked
        check_exact(ex, ids, layer, head, 299)
    split = ex.split(ids, 7)
    assert int(allowed_keys(split, 0, 299).min()) == 299 - 255
    with pytest.raises(DataError, match="local window"):
        explain(ex, ids, 7, 0, 299, 10)
    kinds = {t.detail["kind"] for t in explain(ex, ids, 7, 0, 299).key_marginals}
    assert {"token", "position", "head", "attn_bias", "feature", "skip", "error", "dict_bias", "norm_bias"} <= kinds


def test_gpt_neo_one_layer(story_texts):
    ex = explainer_for(MODELS / "ts-1L")
    ids = long_ids(ex, story_texts, 200)
    check_exact(ex, ids, 0, 7, 199)
    why = explain(ex, ids, 0, 7, 199)
    assert [t.detail["kind"] for t in why.query_marginals].count("token") == 1


def test_llama_rotary_with_an_mlp_out_sae(story_texts):
    """ts-best (llama: RMSNorm, rotary, 1/sqrt(d_head)); an SAE on hook_mlp_out splits layer 0's MLP output (ts-1L's
    SAE has ts-best's width: it explains little, the error term takes the rest, and the sum stays exact)."""
    sae = load_sae(MODELS / "ts-1L" / "saes" / "blocks.0.hook_mlp_out")
    ex = explainer_for(MODELS / "ts-best", {0: sae})
    ids = long_ids(ex, story_texts, 200)
    for layer, head in [(0, 1), (2, 4), (5, 7)]:
        check_exact(ex, ids, layer, head, 180)
    kinds = {t.detail["kind"] for t in explain(ex, ids, 5, 7, 180).key_marginals}
    assert {"feature", "error", "mlp", "head"} <= kinds and "position" not in kinds


def test_api_takes_a_handle_and_bad_positions():
    from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer

    class Handle:  # the model handle's shape: .module and .tokenizer
        module = load_tinylm(MODELS / "ts-1L")
        tokenizer = load_tokenizer(MODELS / "ts-1L")

    why = attention_why(Handle(), "Tom gave Lily a ball. Lily said thank you to", 0, 3)
    assert why.query == len(why.input_ids) - 1 and 0 <= why.key <= why.query
    assert why.key == int(torch.tensor(why.key_weights).argmax())
    with pytest.raises(DataError, match="outside the prompt"):
        attention_why(Handle(), "Tom ran.", 0, 3, query=50)
    with pytest.raises(DataError, match="head 16 does not exist"):
        attention_why(Handle(), "Tom ran.", 0, 16)


def test_model_handle_method_is_the_same_decomposition():
    from tiny_interp import Model

    model = Model.from_pretrained("ts-1L")
    prompt = "Tom gave Lily a ball. Lily said thank you to"
    via_method = model.attention_why(prompt, 0, 3, key=2)
    via_function = attention_why(model, prompt, 0, 3, key=2)
    assert via_method.key == via_function.key == 2
    assert via_method.input_ids == via_function.input_ids
    assert abs(via_method.score - via_function.score) < 1e-6
