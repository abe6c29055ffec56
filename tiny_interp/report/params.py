"""Notebook parameters, papermill style: a code cell tagged ``parameters`` holds the defaults; a run's values go into
a cell tagged ``injected-parameters`` inserted right after it, so later cells see the overrides."""

from __future__ import annotations

import ast
import json
from typing import Any

from ..errors import ConfigError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def parse_value(raw: str) -> Any:
    """``key=value`` values: a Python/JSON literal when it parses as one (numbers, True/None, lists, quoted
    strings), else the text itself, so ``--param DATA=../shared/x.txt`` needs no quotes."""
    raw = raw.strip()
    for parse in (ast.literal_eval, json.loads):
        try:
            return parse(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, json.JSONDecodeError):
            continue
    return raw


def parse_params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f"--param expects NAME=VALUE with NAME a Python identifier, got {item!r}")
        params[key] = parse_value(raw)
    return params


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def parameters_cell_index(nb: Any) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and PARAMETERS_TAG in _tags(cell):
            return i
    return None


def declared_parameters(nb: Any) -> dict[str, Any]:
    """Names assigned in the parameters cell with their default values (literal defaults only; others as source)."""
    i = parameters_cell_index(nb)
    if i is None:
        return {}
    out: dict[str, Any] = {}
    for node in ast.parse(nb.cells[i].source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and node.value is not None:
                    try:
                        out[t.id] = ast.literal_eval(node.value)
                    except ValueError:
                        out[t.id] = ast.unparse(node.value)
    return out


def inject_parameters(nb: Any, params: dict[str, Any], strict: bool = True) -> Any:
    """A copy of ``nb`` with an ``injected-parameters`` cell after the parameters cell (replacing an earlier one).

    With ``strict``, a name the parameters cell does not define is an error (a typo would otherwise be ignored)."""
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in _tags(c)]
    i = parameters_cell_index(nb)
    if params and i is None:
        raise ConfigError("the notebook has no code cell tagged 'parameters', so it takes no --param values")
    if strict and params:
        unknown = sorted(set(params) - set(declared_parameters(nb)))
        if unknown:
            known = ", ".join(sorted(declared_parameters(nb))) or "none"
            raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; this notebook takes: {known}")
    if not params or i is None:
        return nb
    lines = ["# Parameters injected for this run"] + [f"{k} = {v!r}" for k, v in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]})
    nb.cells.insert(i + 1, cell)
    return nb
