"""JSON from outside (lab API bodies, staff prompt files), parsed within bounds.

The standard decoder recurses once per nesting level and converts any number it meets: 20,000
nested brackets raise RecursionError and a 5,000-digit integer raises a bare ValueError. Both are
refused here with a message that says what was wrong, before the decoder reaches them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 32
MAX_NUMBER_CHARS = 100

_TOKEN = re.compile(r'["\[\]{}]')


class JSONLimitError(ValueError):
    """Well-formed or not, JSON past one of the bounds; the message names the bound."""


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects in `text` nest deeper than `limit`, brackets inside strings not
    counted. Linear time: a string is skipped with str.find, never with a backtracking regex."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, decided at C speed
    depth = 0
    position = 0
    while (token := _TOKEN.search(text, position)) is not None:
        char, position = token.group(), token.end()
        if char == '"':
            while True:
                end = text.find('"', position)
                if end < 0:
                    return False  # unterminated: the decoder reports it without recursing further
                backslashes = 0
                while text[end - 1 - backslashes] == "\\":
                    backslashes += 1
                position = end + 1
                if backslashes % 2 == 0:
                    break
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _number_parser(convert: Callable[[str], Any], limit: int) -> Callable[[str], Any]:
    def parse(literal: str) -> Any:
        if len(literal) > limit:
            raise JSONLimitError(
                f"a number {len(literal)} characters long (at most {limit}; write it as a string)"
            )
        return convert(literal)

    return parse


def json_loads_limited(
    text: str,
    *,
    max_depth: int = MAX_DEPTH,
    max_number_chars: int = MAX_NUMBER_CHARS,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """json.loads that raises JSONLimitError for nesting deeper than `max_depth` or a number
    longer than `max_number_chars`; invalid JSON raises json.JSONDecodeError as usual."""
    if json_depth_exceeds(text, max_depth):
        raise JSONLimitError(f"nested deeper than {max_depth} levels")
    return json.loads(
        text,
        parse_int=_number_parser(int, max_number_chars),
        parse_float=_number_parser(float, max_number_chars),
        parse_constant=parse_constant,
    )
