"""Teacher grading (Eldan & Li 2023, section 3): an LLM reads a story beginning, ``***``, and a model's completion,
writes a general assessment, grades Grammar, Creativity, Consistency (with the beginning) and Plot out of 10, and
guesses the writer's age group (A: 3 or under ... F: 13-16).

Answers come as JSON through ``response_format`` (a JSON schema) where the endpoint supports it, else as free text
that ``parse_grade`` reads robustly. An answer that cannot be read is a failure with its raw text, never a zero.
``grade_table`` gives per-model means with 95% confidence intervals, beside the paper's figures for models of the
same shape where known; ``grade_figure`` plots them with plotly.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError
from ..markdown import escape_md
from .records import latest_records
from .runner import Completion, ItemFailure, LLMItem

if TYPE_CHECKING:
    import plotly.graph_objects as go

CATEGORIES = ("grammar", "creativity", "consistency", "plot")
AGE_GROUPS = {"A": "3 or under", "B": "4-5", "C": "6-7", "D": "8-9", "E": "10-12", "F": "13-16"}

# The paper's Figure 4 (Eldan & Li 2023, "TinyStories: How Small Can Language Models Be and Still Speak Coherent
# English?", arXiv 2305.07759v2): GPT-4's grades of the seven released TinyStories models, by (hidden size,
# layers). The figure gives grammar, creativity and consistency (no plot grade, no confidence intervals). These
# are the default side table of ``grade_table``; ``--paper-figures FILE`` replaces them.
PAPER_FIGURE4: dict[tuple[int, int], dict[str, float]] = {
    (64, 8): {"grammar": 6.14, "creativity": 4.68, "consistency": 4.45},  # TinyStories-1M
    (128, 8): {"grammar": 7.23, "creativity": 5.97, "consistency": 7.10},  # TinyStories-3M
    (256, 8): {"grammar": 7.72, "creativity": 6.54, "consistency": 8.02},  # TinyStories-8M
    (512, 8): {"grammar": 8.34, "creativity": 6.85, "consistency": 8.95},  # TinyStories-28M
    (768, 4): {"grammar": 8.43, "creativity": 6.89, "consistency": 9.01},  # TinyStories-33M
    (1024, 1): {"grammar": 7.77, "creativity": 6.36, "consistency": 7.47},  # TinyStories-1Layer-21M
    (1024, 2): {"grammar": 8.22, "creativity": 6.68, "consistency": 8.52},  # TinyStories-2Layers-33M
}
PAPER_MODELS = {
    (64, 8): "TinyStories-1M",
    (128, 8): "TinyStories-3M",
    (256, 8): "TinyStories-8M",
    (512, 8): "TinyStories-28M",
    (768, 4): "TinyStories-33M",
    (1024, 1): "TinyStories-1Layer-21M",
    (1024, 2): "TinyStories-2Layers-33M",
}
PAPER_SOURCE = "Eldan & Li 2023 (arXiv 2305.07759v2), Figure 4: GPT-4 grades of the released models of the same shape"

INSTRUCTIONS = (
    "In the following exercise, a student was given the beginning of a story and had to finish it. The beginning "
    "is the text before the *** symbol, and the student's completion is the text after it. The completion may stop "
    "in the middle of a sentence because of a length limit; do not hold that against the student.\n\n"
    "{beginning}***{completion}\n\n"
    "First, write a short general assessment of the student's completion. Then grade it out of 10 (integers) on: "
    "grammar; creativity; consistency with the beginning of the story; and whether the plot makes sense. Finally, "
    "guess the student's age group: A: 3 or under, B: 4-5, C: 6-7, D: 8-9, E: 10-12, F: 13-16."
)
JSON_TAIL = (
    '\n\nAnswer with a JSON object with the keys "assessment" (string), "grammar", "creativity", "consistency", '
    '"plot" (integers from 1 to 10) and "age_group" (one letter, A to F).'
)
TEXT_TAIL = (
    "\n\nEnd your answer with exactly these lines:\nGrammar: X/10\nCreativity: X/10\nConsistency: X/10\n"
    "Plot: X/10\nAge group: L"
)

GRADE_SCHEMA: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "story_grade",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "assessment": {"type": "string"},
                # no minimum/maximum: strict-mode endpoints reject some keywords; parse_grade checks the range
                **{c: {"type": "integer"} for c in CATEGORIES},
                "age_group": {"type": "string", "enum": list(AGE_GROUPS)},
            },
            "required": ["assessment", *CATEGORIES, "age_group"],
            "additionalProperties": False,
        },
    },
}


def grade_prompt(beginning: str, completion: str, structured: bool) -> str:
    body = INSTRUCTIONS.format(beginning=beginning, completion=completion)
    return body + (JSON_TAIL if structured else TEXT_TAIL)


class GradeParseError(ValueError):
    pass


def _score(v: Any) -> float:
    if isinstance(v, bool):
        raise GradeParseError(f"grade {v!r} is not a number")
    if isinstance(v, str):
        m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10)?\s*$", v)
        if not m:
            raise GradeParseError(f"grade {v!r} is not a number out of 10")
        v = float(m.group(1))
    if not isinstance(v, (int, float)) or not 0 <= v <= 10:
        raise GradeParseError(f"grade {v!r} is not between 0 and 10")
    return float(v)


def _age(v: Any) -> str:
    m = re.match(r"\s*\(?([A-Fa-f])\b", str(v))
    if not m:
        raise GradeParseError(f"age group {v!r} is not one of A-F")
    return m.group(1).upper()


def _from_json(obj: dict[str, Any]) -> dict[str, float | str]:
    low = {re.sub(r"[^a-z]", "", str(k).lower()): v for k, v in obj.items()}
    missing = [c for c in CATEGORIES if c not in low]
    age_key = next((k for k in ("agegroup", "age", "agegroupguess") if k in low), None)
    if missing or age_key is None:
        raise GradeParseError(f"JSON answer lacks {missing + ([] if age_key else ['age_group'])}")
    out: dict[str, float | str] = {c: _score(low[c]) for c in CATEGORIES}
    out["age_group"] = _age(low[age_key])
    out["assessment"] = str(low.get("assessment") or low.get("generalassessment") or "")
    return out


_JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)
_LABELS = {"grammar": r"grammar", "creativity": r"creativity", "consistency": r"consistency", "plot": r"plot"}


def parse_grade(text: str) -> dict[str, Any]:
    """Grades from a JSON answer (also inside code fences or prose) or from free text; ``GradeParseError`` when any
    category or the age group cannot be found unambiguously."""
    m = _JSON_BLOCK.search(text)
    if m:
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return _from_json(obj)
    out: dict[str, Any] = {}
    for cat, label in _LABELS.items():
        # the last "Label: 8/10" wins (assessments sometimes mention a category before the final grades)
        hits = re.findall(rf"\b{label}\b[^0-9\n]{{0,40}}?(\d+(?:\.\d+)?)\s*(?:/\s*10|out of 10|\b)", text, re.I)
        if not hits:
            raise GradeParseError(f"no grade for {cat}")
        out[cat] = _score(hits[-1])
    ages = re.findall(r"age(?:\s*group)?[^A-Za-z\n]{0,10}\(?\b([A-F])\b", text, re.I) or re.findall(
        r"^\s*\(?([A-F])\)?\s*[:)]\s*(?:3 or under|4-5|6-7|8-9|10-12|13-16)\s*$", text, re.M
    )
    if not ages:
        raise GradeParseError("no age group A-F")
    out["age_group"] = ages[-1].upper()
    first = re.search(r"\b(grammar)\b[^0-9\n]{0,40}?\d", text, re.I)
    out["assessment"] = text[: first.start()].strip() if first else ""
    return out


def grade_handler(item: LLMItem, c: Completion) -> dict[str, Any]:
    try:
        return parse_grade(c.text)
    except GradeParseError as e:
        cause = "truncated" if c.finish_reason == "length" else "parse_error"
        raise ItemFailure(cause, str(e), raw=c.text) from None


def grade_items(
    completions: str | os.PathLike, structured: bool = True, kinds: tuple[str, ...] = ("story",)
) -> list[LLMItem]:
    """A grading request per finished completion of the given kinds (same id as the completion)."""
    recs = latest_records(completions)
    if not recs:
        raise DataError(f"no completion records in {completions}: make them with `tiny-interp complete`")
    items = []
    for rid, r in sorted(recs.items()):
        if r.get("status") != "done" or r.get("kind", "story") not in kinds:
            continue
        if not all(isinstance(r.get(k), str) for k in ("prompt", "completion")):
            raise DataError(
                f"{completions}: record {rid!r} has no text 'prompt' and 'completion'; pass the JSONL "
                "that `tiny-interp complete` wrote"
            )
        items.append(
            LLMItem(
                id=rid,
                messages=[{"role": "user", "content": grade_prompt(r["prompt"], r["completion"], structured)}],
                meta={
                    "model": r.get("model"),
                    "prompt_id": r.get("prompt_id"),
                    "sample": r.get("sample"),
                    "shape": r.get("shape"),
                },
                response_format=GRADE_SCHEMA if structured else None,
                # JSON or free text is how the grade is asked for, not what is graded: switching keeps done grades
                job={"protocol": "teacher-grade-v1", "beginning": r["prompt"], "completion": r["completion"]},
            )
        )
    return items


# two-sided 95% t quantiles for small samples; beyond 30 the normal 1.96 is close enough
_T95 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval (nan half-width with fewer than 2 values)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96
    return mean, t * sd / math.sqrt(n)


def load_paper_figures(path: str | os.PathLike) -> dict[tuple[int, int], dict[str, float]]:
    """A side table from JSON (``[{"d_model": .., "n_layers": .., "grammar": .., ...}]``), checked in full."""
    expected = "a JSON list of {d_model, n_layers, grammar, creativity, consistency, plot} objects"
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--paper-figures {path}: no such file; pass {expected}")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        table = {(int(r["d_model"]), int(r["n_layers"])): {c: float(r[c]) for c in CATEGORIES if c in r} for r in rows}
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataError(f"--paper-figures {path}: expected {expected} ({type(e).__name__}: {e})") from None
    bad = [v for grades in table.values() for v in grades.values() if not 0 <= v <= 10]
    if bad or not table:
        raise DataError(f"--paper-figures {path}: grades must be numbers from 0 to 10 and the list not empty")
    return table


def grade_table(
    grades: str | os.PathLike, paper: dict[tuple[int, int], dict[str, float]] | None = None
) -> list[dict[str, Any]]:
    """Per model: graded count, failures, mean and 95% CI per category, mean age index, age histogram, and the
    paper's figures for a model of the same (d_model, n_layers) where known."""
    paper = PAPER_FIGURE4 if paper is None else paper
    by_model: dict[str, dict[str, Any]] = {}
    for r in latest_records(grades).values():
        meta = r.get("meta") or {}
        m = by_model.setdefault(str(meta.get("model")), {"shape": meta.get("shape"), "ok": [], "failed": 0})
        if r.get("status") == "done":
            m["ok"].append(r["result"])
        else:
            m["failed"] += 1
    rows = []
    letters = list(AGE_GROUPS)
    for name, m in sorted(by_model.items()):
        row: dict[str, Any] = {"model": name, "n": len(m["ok"]), "failed": m["failed"], "shape": m["shape"]}
        for c in CATEGORIES:
            row[c], row[c + "_ci95"] = mean_ci([g[c] for g in m["ok"]])
        row["age_index"], row["age_index_ci95"] = mean_ci([letters.index(g["age_group"]) for g in m["ok"]])
        row["age_groups"] = {a: sum(g["age_group"] == a for g in m["ok"]) for a in letters}
        shape = m["shape"] or {}
        d_model, n_layers = shape.get("d_model"), shape.get("n_layers")
        ref = paper.get((d_model, n_layers)) if d_model is not None and n_layers is not None else None
        for c in CATEGORIES:
            row["paper_" + c] = ref.get(c) if ref else None
        rows.append(row)
    return rows


def _fmt(mean: float, ci: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.2f}" if math.isnan(ci) else f"{mean:.2f} ± {ci:.2f}"


def table_markdown(rows: list[dict[str, Any]]) -> str:
    head = ["model", "d_model x layers", "n", "failed", *CATEGORIES, "age (A=0)", *(f"paper {c}" for c in CATEGORIES)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["shape"] or {}
        shape = f"{s.get('d_model', '?')} x {s.get('n_layers', '?')}" if s else "?"
        cells = [escape_md(r["model"]), shape, str(r["n"]), str(r["failed"])]
        cells += [_fmt(r[c], r[c + "_ci95"]) for c in CATEGORIES]
        cells.append(_fmt(r["age_index"], r["age_index_ci95"]))
        cells += ["-" if r["paper_" + c] is None else f"{r['paper_' + c]:.2f}" for c in CATEGORIES]
        lines.append("| " + " | ".join(cells) + " |")
    shown = any(r["paper_" + c] is not None for r in rows for c in CATEGORIES)
    note = (
        f"\n\nPaper columns: {PAPER_SOURCE}."
        if shown
        else "\n\nPaper columns are empty: no model here has the shape of a released TinyStories model."
    )
    return "\n".join(lines) + note + "\n"


def paper_markdown(paper: dict[tuple[int, int], dict[str, float]] | None = None) -> str:
    """The side table itself (the paper's Figure 4 unless another is given), as markdown with its source."""
    paper = PAPER_FIGURE4 if paper is None else paper
    lines = ["| model | d_model x layers | " + " | ".join(CATEGORIES) + " |", "|" + "---|" * (2 + len(CATEGORIES))]
    for (d_model, n_layers), grades in paper.items():
        name = PAPER_MODELS.get((d_model, n_layers), "-")
        cells = ["-" if grades.get(c) is None else f"{grades[c]:.2f}" for c in CATEGORIES]
        lines.append(f"| {name} | {d_model} x {n_layers} | " + " | ".join(cells) + " |")
    source = PAPER_SOURCE if paper is PAPER_FIGURE4 else "the --paper-figures file given"
    return "\n".join(lines) + f"\n\nSource: {source}.\n"


def grade_figure(rows: list[dict[str, Any]]) -> go.Figure:
    """A plotly grouped bar chart: one group per category, one bar per model, 95% CI error bars; the paper's figures
    for same-shape models as markers where known."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in rows:
        fig.add_trace(
            go.Bar(
                name=r["model"],
                x=list(CATEGORIES),
                y=[r[c] for c in CATEGORIES],
                error_y={
                    "type": "data",
                    "array": [0 if math.isnan(r[c + "_ci95"]) else r[c + "_ci95"] for c in CATEGORIES],
                },
            )
        )
        if r["paper_grammar"] is not None:
            fig.add_trace(
                go.Scatter(
                    name=f"paper ({r['model']} shape)",
                    x=list(CATEGORIES),
                    y=[r["paper_" + c] for c in CATEGORIES],
                    mode="markers",
                    marker={"symbol": "diamond", "size": 11},
                )
            )
    fig.update_layout(
        barmode="group",
        yaxis={"title": "teacher grade (out of 10)", "range": [0, 10]},
        title="Teacher grades per model (mean, 95% CI)",
    )
    return fig
