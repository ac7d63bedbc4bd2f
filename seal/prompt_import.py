"""Parse and validate a JSONL prompt file before anything touches the database.

Every line is checked and every problem is reported with its line number, so staff fix a file in
one pass; the service writes nothing unless the whole file is clean.

One line is one JSON object:
    {"text": "...", "external_id": "coding-001", "categories": {"language": "Python"},
     "gold_answer": "42", "public_sample": false}
Only `text` is required (and `gold_answer` in auto-graded domains). A facet may take a list of
values: {"language": ["Python", "SQL"]}.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from seal.jsonlimits import JSONLimitError, json_loads_limited

ALLOWED_FIELDS = {"text", "external_id", "categories", "gold_answer", "public_sample"}
MAX_TEXT_CHARS = 100_000
MAX_EXTERNAL_ID_CHARS = 100
MAX_GOLD_ANSWER_CHARS = 200
MAX_REPORTED_ERRORS = 100
_WHITESPACE = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class ParsedPrompt:
    line_number: int
    text: str
    content_hash: str
    external_id: str
    gold_answer: str
    category_keys: tuple[tuple[str, str], ...]
    is_public_sample: bool


@dataclass(frozen=True)
class LineError:
    line_number: int
    message: str

    def __str__(self) -> str:
        if self.line_number == 0:
            return self.message
        return f"line {self.line_number}: {self.message}"


def text_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be stored as text, naming the field: PostgreSQL refuses NUL, and UTF-8
    has no encoding for a lone UTF-16 surrogate (what "\\ud800" decodes to). None when it can."""
    if "\x00" in value:
        return f"'{name}' contains a NUL character"
    found = _SURROGATE.search(value)
    if found is not None:
        return (
            f"'{name}' contains a lone UTF-16 surrogate (\\u{ord(found.group()):04x} at "
            f"character {found.start() + 1}); escaped surrogates must come in pairs"
        )
    return None


def prompt_text_problem(text: str) -> str | None:
    """Why `text` cannot be a prompt's text, or None: the rule of a file line and of every other
    writer (Prompt.problems() applies it to the admin's and the services' edits)."""
    if not text.strip():
        return "'text' is required and must be a non-empty string"
    if len(text) > MAX_TEXT_CHARS:
        return f"'text' is longer than {MAX_TEXT_CHARS} characters"
    return text_problem("text", text)


def gold_answer_normalise(gold: str, *, numeric: bool) -> tuple[str, list[str]]:
    """A gold answer as it is stored (a number normalised in auto-graded domains) and what is
    wrong with it; the rule of a file line and of every other writer, as prompt_text_problem."""
    gold = gold.strip()
    problems: list[str] = []
    if problem := text_problem("gold_answer", gold):
        problems.append(problem)
    elif numeric:
        if not gold:
            problems.append("'gold_answer' is required in this auto-graded domain")
        else:
            normalised = normalise_numeric_answer(gold)
            if normalised is None:
                problems.append(f"'gold_answer' must be a number in this domain, got {gold!r}")
            else:
                gold = normalised
    if len(gold) > MAX_GOLD_ANSWER_CHARS:
        problems.append(f"'gold_answer' is longer than {MAX_GOLD_ANSWER_CHARS} characters")
    return gold, problems


def content_hash(text: str) -> str:
    """SHA-256 of the text with Unicode and whitespace normalised, so trivial copies collide."""
    normalised = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def normalise_numeric_answer(raw: str) -> str | None:
    """'1,250.50' -> '1250.5'; None when the text is not a number."""
    cleaned = raw.strip().replace(",", "").lstrip("$€£")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    normalised = format(number.normalize(), "f")
    return normalised if "." not in normalised else normalised.rstrip("0").rstrip(".")


def _parse_categories(
    raw: Any, facets: Mapping[str, set[str]], errors: list[str]
) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        errors.append(
            '\'categories\' must be an object mapping facet to value, e.g. {"language": "Python"}'
        )
        return ()
    keys: list[tuple[str, str]] = []
    for facet, values in raw.items():
        if facet not in facets:
            known = ", ".join(sorted(facets)) or "none defined"
            errors.append(f"unknown category facet {facet!r} (known facets: {known})")
            continue
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str):
                errors.append(f"category {facet!r} values must be strings")
                continue
            if value not in facets[facet]:
                allowed = ", ".join(sorted(facets[facet]))
                errors.append(f"unknown {facet} {value!r} (allowed: {allowed})")
                continue
            keys.append((facet, value))
    return tuple(dict.fromkeys(keys))


def _parse_line(
    line_number: int,
    raw_line: str,
    *,
    facets: Mapping[str, set[str]],
    numeric_gold: bool,
) -> tuple[ParsedPrompt | None, list[str]]:
    errors: list[str] = []
    try:
        data = json_loads_limited(raw_line)
    except json.JSONDecodeError as exc:
        return None, [f"invalid JSON ({exc.msg} at column {exc.colno})"]
    except JSONLimitError as exc:
        return None, [f"refused JSON: {exc}"]
    except ValueError as exc:  # whatever else the decoder's conversions raise: one line's problem
        return None, [f"invalid JSON ({exc})"]
    if not isinstance(data, dict):
        return None, ["each line must be a JSON object"]

    for field in sorted(set(data) - ALLOWED_FIELDS):
        errors.append(f"unknown field {field!r} (allowed: {', '.join(sorted(ALLOWED_FIELDS))})")

    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append("'text' is required and must be a non-empty string")
        text = ""
    elif problem := prompt_text_problem(text):
        errors.append(problem)

    external_id = data.get("external_id", "")
    if not isinstance(external_id, str) or len(external_id) > MAX_EXTERNAL_ID_CHARS:
        errors.append(
            f"'external_id' must be a string of at most {MAX_EXTERNAL_ID_CHARS} characters"
        )
        external_id = ""
    elif problem := text_problem("external_id", external_id):
        errors.append(problem)

    gold = data.get("gold_answer", "")
    if isinstance(gold, bool) or not isinstance(gold, str | int | float):
        errors.append("'gold_answer' must be a string or a number")
        gold = ""
    gold, gold_problems = gold_answer_normalise(str(gold), numeric=numeric_gold)
    errors.extend(gold_problems)

    public_sample = data.get("public_sample", False)
    if not isinstance(public_sample, bool):
        errors.append("'public_sample' must be true or false")
        public_sample = False

    category_keys = _parse_categories(data.get("categories"), facets, errors)
    if errors:
        return None, errors
    return (
        ParsedPrompt(
            line_number=line_number,
            text=text,
            content_hash=content_hash(text),
            external_id=external_id.strip(),
            gold_answer=gold,
            category_keys=category_keys,
            is_public_sample=public_sample,
        ),
        [],
    )


def prompts_parse(
    lines: Iterable[bytes | str],
    *,
    facets: Mapping[str, set[str]],
    numeric_gold: bool,
    existing_hashes: Mapping[str, str] | None = None,
    existing_external_ids: set[str] | None = None,
) -> tuple[list[ParsedPrompt], list[LineError]]:
    """Validate every line; return the prompts and the errors (by line), never a partial verdict.

    `existing_hashes` maps content hashes already in the target set to a label for the message.
    Blank lines are allowed and skipped; line numbers count them, as an editor does.
    """
    parsed: list[ParsedPrompt] = []
    errors: list[LineError] = []
    seen_hashes: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    existing_hashes = existing_hashes or {}
    existing_external_ids = existing_external_ids or set()

    for line_number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                errors.append(LineError(line_number, "not valid UTF-8"))
                continue
        raw = raw.removeprefix("\ufeff") if line_number == 1 else raw
        if not raw.strip():
            continue
        prompt, line_errors = _parse_line(
            line_number, raw, facets=facets, numeric_gold=numeric_gold
        )
        errors.extend(LineError(line_number, message) for message in line_errors)
        if prompt is None:
            continue
        if prompt.content_hash in seen_hashes:
            errors.append(
                LineError(line_number, f"duplicate of line {seen_hashes[prompt.content_hash]}")
            )
            continue
        if prompt.content_hash in existing_hashes:
            errors.append(
                LineError(
                    line_number,
                    f"duplicate of {existing_hashes[prompt.content_hash]} already in this set",
                )
            )
            continue
        if prompt.external_id:
            if prompt.external_id in seen_ids:
                errors.append(
                    LineError(
                        line_number,
                        f"external_id {prompt.external_id!r} repeats "
                        f"line {seen_ids[prompt.external_id]}",
                    )
                )
                continue
            if prompt.external_id in existing_external_ids:
                errors.append(
                    LineError(
                        line_number, f"external_id {prompt.external_id!r} is already in this set"
                    )
                )
                continue
            seen_ids[prompt.external_id] = line_number
        seen_hashes[prompt.content_hash] = line_number
        parsed.append(prompt)

    if not parsed and not errors:
        errors.append(LineError(0, "the file holds no prompts"))
    return parsed, errors
