"""ExplanationTable: every explained unit beside an atlas, with its scores and a search box over the explanation
text ("animals", "sadness"). Self-contained HTML (our own small script, data as escaped JSON, text placed with
``textContent``), so it works in a notebook, in ``tiny_interp.widgets.save_html`` pages and in exported reports.

The Neuron / Feature explorers show one unit's explanations through ``store.unit_explanations(atlas_dir, key)``.
"""

from __future__ import annotations

import os
import uuid
from functools import cache
from importlib import resources
from typing import Any


@cache
def _script() -> str:
    return resources.files("tiny_interp.autointerp").joinpath("static", "autointerp.js").read_text(encoding="utf-8")


def table_rows(atlas_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One row per (unit, run) with an explanation, best detection score first."""
    from .store import explanations_for

    rows = [{"unit": key, **rec} for key, recs in explanations_for(atlas_dir).items() for rec in recs]
    return sorted(rows, key=lambda r: (-(r["detection"] if r["detection"] is not None else -1), r["unit"]))


class ExplanationTable:
    """``ExplanationTable(atlas_dir, query="")``: display it in a notebook or pass it to ``save_html``."""

    def __init__(self, atlas_dir: str | os.PathLike, query: str = "", title: str | None = None):
        self.rows = table_rows(atlas_dir)
        self.query = query
        self.title = title or f"Explained units beside {atlas_dir}"

    def data(self) -> dict[str, Any]:
        return {"title": self.title, "query": self.query, "rows": self.rows}

    def to_html(self, page: Any = None) -> str:
        from ..widgets.render import safe_json

        vid = "ti-ai-" + uuid.uuid4().hex[:12]
        script = _script().replace("</", "<\\/")
        return (
            f'<div class="ti-ai" id="{vid}" data-pending="1"></div>\n'
            f'<script type="application/json" id="{vid}-data">{safe_json(self.data())}</script>\n'
            f"<script>{script}</script>\n"
        )

    def _repr_html_(self) -> str:
        return self.to_html()
