"""Auto-grading of numeric answers (math): the final number of a response against the gold one."""

from __future__ import annotations

import re

from seal.prompt_import import normalise_numeric_answer

# A number as people write it: optional sign and currency, thousands separators, decimals.
_NUMBER = r"[-−]?\s?[$€£]?\s?\d[\d,]*(?:\.\d+)?|[-−]?\s?[$€£]?\s?\.\d+"
_FINAL_LINE = re.compile(
    r"final\s+answer\s*(?:is)?\s*[:=]?\s*\**\s*(?:\\boxed\{)?\s*(" + _NUMBER + ")",
    re.IGNORECASE,
)
_ANY_NUMBER = re.compile(_NUMBER)


def final_answer_extract(text: str) -> str | None:
    """The answer a response commits to: a "Final answer: N" line, else its last number.

    Returns the normalised number ('1,250.50' -> '1250.5') or None when there is none.
    """
    finals = _FINAL_LINE.findall(text)
    candidates = finals or _ANY_NUMBER.findall(text)
    if not candidates:
        return None
    # The last "Final answer" wins: models sometimes restate a corrected one.
    raw = candidates[-1].replace("−", "-").replace(" ", "")
    negative = raw.startswith("-")
    value = normalise_numeric_answer(raw.lstrip("-"))
    if value is None:
        return None
    return f"-{value}" if negative and value != "0" else value


def numeric_answer_is_correct(*, response_text: str, gold_answer: str) -> bool:
    """Whether the response's final number equals the gold answer (both normalised)."""
    gold = normalise_numeric_answer(gold_answer.replace("−", "-"))
    if gold is None:
        return False
    return final_answer_extract(response_text) == gold
