"""Hostile text (student ids, messages, captured output) made safe for where it is shown."""
from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def encodable(text) -> str:
    """Text that UTF-8 can write: lone surrogates (a "\\ud800" escape in a notebook's JSON, a
    folder name that is not UTF-8) become their backslash escapes instead of failing the write."""
    text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def printable(text) -> str:
    """For a terminal or a one-line field: control characters become '?'."""
    return _CONTROL.sub("?", str(text))


def block(text: str) -> str:
    """Multi-line text for a literal block: newlines normalised, control characters '?'."""
    return _CONTROL.sub("?", str(text).replace("\r\n", "\n").replace("\r", "\n"))


# `_` inside a word never makes emphasis (CommonMark), so 01_perceptron stays readable.
_MD_SPECIAL = re.compile(r"([\\`*\[\]|#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def md_inline(text: str) -> str:
    """Inline Markdown text: no raw HTML, no links or emphasis from hostile text."""
    text = printable(text).replace("\n", " ")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def md_code_block(text: str, indent: str = "") -> list[str]:
    """A fenced code block (literal: nothing in it is rendered), its fence longer than any
    run of backticks in the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{indent}{fence}text", *(f"{indent}{line}" for line in block(text).split("\n")), f"{indent}{fence}"]
