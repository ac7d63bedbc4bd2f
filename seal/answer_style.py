"""Style counts of a model's answer: length in tokens and Markdown elements, for style control.

Counted once per answer when it is stored (ResponseStyle) and read by every recompute, which
fits the leaderboard's style-controlled view on the differences between two answers
(leaderboards/stats/style.py). The rules are deliberately simple and documented, because the
coefficients are published:

- tokens: word pieces and punctuation marks, the regular expression ``\\w+|[^\\w\\s]`` (so
  "don't" is 3 tokens and "x = 1;" is 4); not any model's tokenizer, but the same for all.
- headers: lines starting with 1 to 6 ``#`` and a space (ATX headings), outside code blocks.
- lists: list items, lines starting with ``-``, ``*``, ``+`` or a number and ``.``/``)``,
  followed by a space, outside code blocks.
- bold: ``**text**`` or ``__text__`` spans, outside code blocks.
- code blocks: fenced blocks (``` or ~~~); an unclosed fence counts as one block.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass

# Bump when a counting rule changes: stored counts of an older version are then recounted.
STYLE_VERSION = 1

_TOKEN = re.compile(r"\w+|[^\w\s]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADER = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])[ \t]+\S")
_BOLD = re.compile(r"\*\*(?=\S)(?:.*?\S)?\*\*|__(?=\S)(?:.*?\S)?__")


@dataclass(frozen=True)
class AnswerStyle:
    """Counts of one answer's style elements."""

    tokens: int
    headers: int
    list_items: int
    bold: int
    code_blocks: int

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """The counts in the order the ranking engine expects (length, headers, lists, ...)."""
        tokens, headers, list_items, bold, code_blocks = astuple(self)
        return tokens, headers, list_items, bold, code_blocks


def answer_style(text: str) -> AnswerStyle:
    """Count the tokens and the Markdown headers, list items, bold spans and code blocks."""
    headers = list_items = bold = code_blocks = 0
    fence: str | None = None
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence is None:
            if opening:
                fence = opening.group(1)[0] * 3
                code_blocks += 1
                continue
            if _HEADER.match(line):
                headers += 1
            elif _LIST_ITEM.match(line):
                list_items += 1
            bold += len(_BOLD.findall(line))
        elif opening and opening.group(1).startswith(fence):
            fence = None
    return AnswerStyle(
        tokens=len(_TOKEN.findall(text)),
        headers=headers,
        list_items=list_items,
        bold=bold,
        code_blocks=code_blocks,
    )
