"""The README's and the docs' examples name only what exists: every ``tiny-interp`` command line parses against
the real argument parser (subcommands and options), every ``make`` target is in the Makefile, every repository
path is in the checkout, and every Python block compiles and imports names that exist.

A code block this test cannot check fails it, unless the line before its fence is the explicit marker
``<!-- docs-test: skip -->``: nothing is skipped silently.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import importlib.util
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

SKIP_MARKER = "<!-- docs-test: skip -->"
SHELL = {"bash", "sh", "console", "shell"}
# blocks that show output, citations or data, never commands to run
INERT = {"text", "bibtex", "json"}
# programs the examples call that are not ours: only their existence as an example is checked
EXTERNAL = {"export", "source", "cd", "huggingface-cli", "pip", "apt-get", "git", "pre-commit", "jupyter"}
# the folders of the checkout that examples point into (runs/, reports/ and ../shared are the user's)
REPO_DIRS = ("trained_models/", "notebooks/", "bench/", "tests/", "tiny_interp/", "docs/")
# NAME, MODEL, DIR, FILE ...: a placeholder the reader fills in
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")


@dataclass(frozen=True)
class Block:
    file: str
    line: int
    lang: str
    text: str
    skipped: bool


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted(p for p in (REPO / "docs").rglob("*.md"))]


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        skipped = i > 0 and lines[i - 1].strip() == SKIP_MARKER
        yield Block(str(path.relative_to(REPO)), i + 1, m.group(1), "\n".join(lines[i + 1 : end]), skipped)
        i = end + 1


@functools.cache
def cli_commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command path of the real parser, through the docs' own hook (the one that writes the CLI page)."""
    sys.path.insert(0, str(REPO / "docs" / "hooks"))
    import cli_reference

    return cli_reference.commands(cli_reference.build_parser())


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.M)}


def check_path(token: str, where: str) -> list[str]:
    path = token.split("=", 1)[-1].removeprefix("gpt-neo:")
    if not path.startswith(REPO_DIRS) or PLACEHOLDER.search(path) or "*" in path:
        return []
    return [] if (REPO / path).exists() else [f"{where}: {path} does not exist in the repository"]


def check_cli(args: list[str], where: str) -> list[str]:
    """``args`` after ``tiny-interp``: subcommands must exist, and every --option on the command reached."""
    commands = cli_commands()
    path: tuple[str, ...] = ()
    problems = []
    for tok in args:
        if tok == "--":  # what follows goes to another program (jupyter lab)
            break
        if tok == "...":
            continue
        if not path or has_children(commands, path):
            if tok.startswith("-"):
                problems += [] if tok in ("-h", "--help", "--version") else [f"{where}: {tok} before a subcommand"]
                continue
            if (*path, tok) not in commands:
                return [*problems, f"{where}: no command `tiny-interp {' '.join((*path, tok))}`"]
            path = (*path, tok)
        elif tok.startswith("--") and tok.split("=", 1)[0] not in commands[path]._option_string_actions:
            problems.append(f"{where}: `tiny-interp {' '.join(path)}` has no option {tok.split('=', 1)[0]}")
        else:
            problems += check_path(tok, where)
    return problems


def has_children(commands: dict[tuple[str, ...], argparse.ArgumentParser], path: tuple[str, ...]) -> bool:
    return any(len(p) == len(path) + 1 and p[: len(path)] == path for p in commands)


def check_shell_line(words: list[str], where: str) -> list[str]:
    if not words:
        return []
    prog = words[0]
    if prog in ("tiny-interp", ".venv/bin/tiny-interp"):
        return check_cli(words[1:], where)
    if "-m" in words and words[words.index("-m") + 1 : words.index("-m") + 2] == ["tiny_interp.cli"]:
        return check_cli(words[words.index("-m") + 2 :], where)
    if prog == "make":
        missing = [t for t in words[1:] if not t.startswith("-") and "=" not in t and t not in make_targets()]
        return [f"{where}: no Makefile target {t}" for t in missing]
    if prog in ("python", "python3", ".venv/bin/python", "pytest") or prog in EXTERNAL:
        return [p for w in words[1:] for p in check_path(w, where)]
    return [f"{where}: cannot check the command `{prog}` (mark the block {SKIP_MARKER} if it is right)"]


def check_shell(block: Block) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", block.text)
    problems = []
    for n, line in enumerate(text.splitlines()):
        where = f"{block.file}:{block.line + n + 1}"
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:
            problems.append(f"{where}: not a shell line ({e})")
            continue
        for part in _split_commands(words):
            problems += check_shell_line(part, where)
    return problems


def _split_commands(words: list[str]) -> list[list[str]]:
    """``a && b; c | d`` as four commands; ``VAR=value cmd`` as ``cmd``."""
    parts: list[list[str]] = [[]]
    for w in words:
        if w in ("&&", "||", ";", "|"):
            parts.append([])
        elif not parts[-1] and re.match(r"^[A-Z_]+=", w):
            continue
        else:
            parts[-1].append(w)
    return [p for p in parts if p]


def check_python(block: Block) -> list[str]:
    where = f"{block.file}:{block.line}"
    try:
        tree = ast.parse(block.text)
    except SyntaxError as e:
        return [f"{where}: not valid Python ({e.msg}, line {e.lineno})"]
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            problems += _check_import(node.module, [a.name for a in node.names], where)
        elif isinstance(node, ast.Import):
            for a in node.names:
                problems += _check_import(a.name, [], where)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            problems += check_path(node.value, where)
    return problems


# the [peers] extra's packages live in .peers-venv (`make peers-venv`), where tests/test_peers_* run the same calls
PEER_MODULES = {"sae_lens", "circuit_tracer"}


def _check_import(module: str, names: list[str], where: str) -> list[str]:
    if module.split(".")[0] in PEER_MODULES and importlib.util.find_spec(module.split(".")[0]) is None:
        return []
    if importlib.util.find_spec(module.split(".")[0]) is None:
        return [f"{where}: no module {module}"]
    if not module.startswith("tiny_interp"):
        return []
    mod = importlib.import_module(module)
    return [f"{where}: {module} has no {n}" for n in names if not hasattr(mod, n)]


def check_block(block: Block) -> list[str]:
    if block.skipped or block.lang in INERT:
        return []
    if block.lang in SHELL:
        return check_shell(block)
    if block.lang == "python":
        return check_python(block)
    return [f"{block.file}:{block.line}: cannot check a `{block.lang or 'plain'}` block (give it a language)"]


def inline_commands(path: Path) -> Iterator[tuple[str, list[str]]]:
    """Inline code spans that start with ``tiny-interp SUB``, as (where, arguments)."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for span in re.findall(r"`(tiny-interp [a-z][^`]*)`", line):
            yield f"{path.relative_to(REPO)}:{n}", shlex.split(span)[1:]


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_code_blocks_name_only_what_exists(path):
    problems = [p for b in blocks(path) for p in check_block(b)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_inline_commands_name_only_what_exists(path):
    problems = [p for where, args in inline_commands(path) for p in check_cli(args, where)]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_what_does_not_exist():
    bad = [
        Block("x.md", 1, "bash", "tiny-interp trane --out runs/x", False),
        Block("x.md", 1, "bash", "tiny-interp train --no-such-option 3", False),
        Block("x.md", 1, "bash", "tiny-interp sae atlas runs/x --stories valid.txt", False),
        Block("x.md", 1, "bash", "make no-such-target", False),
        Block("x.md", 1, "bash", "tiny-interp atlas trained_models/ts-nope --stories x.txt", False),
        Block("x.md", 1, "bash", "rm -rf runs", False),
        Block("x.md", 1, "python", "from tiny_interp.widgets import NoSuchView", False),
        Block("x.md", 1, "python", "def broken(:", False),
        Block("x.md", 1, "yaml", "a: 1", False),
    ]
    for b in bad:
        assert check_block(b), b.text
    good = Block("x.md", 1, "bash", "tiny-interp sae atlas runs/x --data valid.txt  # a comment", False)
    assert check_block(good) == []
    assert check_block(Block("x.md", 1, "yaml", "a: 1", True)) == []  # the explicit marker


def test_the_cli_reference_lists_every_command():
    commands = cli_commands()
    import cli_reference

    page = cli_reference.reference_markdown()
    for path in commands:
        assert f"`tiny-interp {' '.join(path)}`" in page
    assert cli_reference.MARKER in (REPO / "docs" / "reference" / "cli.md").read_text()


def test_every_page_is_in_the_nav():
    nav = (REPO / "mkdocs.yml").read_text()
    pages = [p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")]
    assert [p for p in pages if p not in nav] == []


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_bytes()) <= 12 * 1024
