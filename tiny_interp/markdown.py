"""Text from models, users and files placed into markdown we write (grade tables, model cards): as text, never as
markup. Raw HTML would run in a renderer and a stray ``|`` or ``*`` would break a table or a quote."""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def escape_html(text: str) -> str:
    """``<``, ``>`` and ``&`` as entities: markdown formatting stays, HTML does not."""
    return html.escape(str(text), quote=False)


def escape_md(text: str) -> str:
    """Plain text inside markdown: HTML and markdown punctuation escaped, line breaks as spaces."""
    one_line = " ".join(str(text).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", escape_html(one_line))
