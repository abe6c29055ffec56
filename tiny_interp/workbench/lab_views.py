"""Views survive a kernel restart: every view's output carries a widget reference and a static ``text/html`` twin.
After a restart the widget manager forgets the models, so a save (or an autosave) writes no state for them, and a
reopened notebook would show "Error displaying widget: model not found". The lab's contents manager calls
``keep_views_on_save`` before each save: an output whose widget has no saved state keeps only its other
representations, so the static twin is what the reopened notebook shows."""

from __future__ import annotations

from typing import Any

VIEW_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"


def saved_widget_ids(nb: dict[str, Any]) -> set[str]:
    widgets = nb.get("metadata", {}).get("widgets", {}) or {}
    return set((widgets.get(STATE_MIME, {}) or {}).get("state", {}) or {})


def keep_views(nb: dict[str, Any]) -> int:
    """Drop the widget reference from outputs whose widget state is not saved, where a twin can stand in;
    returns how many outputs changed."""
    saved = saved_widget_ids(nb)
    changed = 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = out.get("data", {})
            ref = data.get(VIEW_MIME)
            twins = [m for m in data if m not in (VIEW_MIME, "text/plain")]
            if isinstance(ref, dict) and ref.get("model_id") not in saved and twins:
                del data[VIEW_MIME]
                changed += 1
    return changed


def keep_views_on_save(model: dict[str, Any], **kwargs: Any) -> None:
    """jupyter_server's ``ContentsManager.pre_save_hook``: edits the notebook about to be written in place."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        keep_views(model["content"])
