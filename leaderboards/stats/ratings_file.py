"""The anonymised ratings file of a snapshot: write it, read it, recompute every board from it.

A file is gzip-compressed JSON Lines ("seal-ratings/1"); every line is an object whose "record"
field says what it is: one "snapshot" header (ids, engine parameters, seed, fingerprint, the
anchor), the "board" records with the published numbers (and, in files from when they were
added, each entry's rank spread, each board's style view and findings), "category", "prompt"
(salted hash and category ids, in the engine's prompt order), "rating", "grade", "exposure",
"answer_style" (a rated answer's five style counts) and "answer_sums" (its rubric score and tag
sums over raters) records. No text. `snapshot_reproduce` recomputes the boards, style view and
findings included, with the same engine, parameters and seed as the
recompute that published them; `snapshot_compare` lists every field that differs, of the parts
the file carries (`ratings_file_parts`). Pure
numpy/pandas: the standalone docs/reproduce.py uses this module without Django.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import numpy as np
import numpy.typing as npt

from scales.preference import Preference

from .agreement import krippendorff_alpha_long
from .board import (
    ENTRY_FIELDS,
    STYLE_ENTRY_FIELDS,
    AnswerStyles,
    GroupedRows,
    StyleFitting,
    board_core,
    board_findings,
    category_rows,
    ratings_group,
    style_lines,
)
from .diagnostics import AnswerSums
from .errors import StatsInputError
from .ranking import RankingConfig

FORMAT = "seal-ratings/1"
OVERALL_KEY = "overall"
PREFERENCE_VALUES = tuple(float(point) for point in Preference.ascending())
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# The fields of a board (and ENTRY_FIELDS of its entries) that a reproduction must match.
BOARD_FIELDS = ("status", "n_ratings", "n_prompts", "n_models", "separability")
# Entry fields a file may carry (files written before them do not): each model's rank spread over
# the bootstrap replicas. A reproduction checks them wherever the published entry carries them.
SPREAD_FIELDS = ("rank_lower", "rank_upper")
# The parts of a snapshot a reproduction can check; `ratings_file_parts` says which a file holds.
PART_BOARDS, PART_SPREAD, PART_STYLE = "boards", "rank spread", "style control"
PART_FINDINGS = "findings"
# An "answer_style" record: one rated answer's style counts (integers; the answer text stays out).
STYLE_COUNT_COLUMNS = ("tokens", "headers", "list_items", "bold", "code_blocks")
# Floats are compared to 1e-9 relative: JSON round-trips them exactly, the tolerance only
# forgives a different CPU's last bit in a sum.
REL_TOLERANCE = 1e-9


class PreferenceCounts(Protocol):
    """Per comparison (prompt, pair): how many raters chose each point of the 5-point scale."""

    @property
    def wins_a(self) -> IntArray: ...
    @property
    def ties(self) -> IntArray: ...
    @property
    def wins_b(self) -> IntArray: ...
    @property
    def much_a(self) -> IntArray: ...
    @property
    def much_b(self) -> IntArray: ...


def agreement_compute(rows: PreferenceCounts) -> dict[str, Any] | None:
    """Krippendorff's alpha on the 5-point preference; a comparison (prompt, pair) is the unit."""
    counts = np.stack(
        [
            rows.much_b,
            rows.wins_b - rows.much_b,
            rows.ties,
            rows.wins_a - rows.much_a,
            rows.much_a,
        ]
    )
    per_unit = counts.sum(axis=0)
    keep = per_unit >= 2
    if not keep.any():
        return None
    counts = counts[:, keep]
    units = np.repeat(np.tile(np.arange(counts.shape[1]), 5), counts.ravel())
    values = np.repeat(np.repeat(np.array(PREFERENCE_VALUES), counts.shape[1]), counts.ravel())
    try:
        result = krippendorff_alpha_long(
            units, values, level="ordinal", value_domain=PREFERENCE_VALUES
        )
    except StatsInputError:
        return None
    return result.to_dict()


# --- Writing ---------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def ratings_file_header(header: Mapping[str, Any]) -> bytes:
    """The first gzip member of a file: the "snapshot" header record alone."""
    line = _json({"record": "snapshot", "format": FORMAT, **header}) + "\n"
    return gzip.compress(line.encode(), compresslevel=6, mtime=0)


def ratings_file_body(
    *,
    boards: Sequence[Mapping[str, Any]],
    categories: Sequence[Mapping[str, Any]],
    prompt_hashes: Sequence[str],
    prompt_categories: Sequence[Sequence[int]],
    ratings: Mapping[str, npt.ArrayLike],
    raters: Sequence[str],
    grades: Mapping[str, npt.ArrayLike] | None = None,
    exposures: Mapping[str, npt.ArrayLike] | None = None,
    styles: Mapping[str, npt.ArrayLike] | None = None,
    answer_sums: Mapping[str, npt.ArrayLike] | None = None,
) -> bytes:
    """The second gzip member: every record after the header; prompts by index into hashes.

    `ratings` holds parallel arrays prompt, model_a, model_b, preference, outcome, rater (rater
    indexes `raters`); `grades` prompt, model, correct; `exposures` prompt, model; `styles`
    prompt, model and STYLE_COUNT_COLUMNS (None: sources kept before style counts were). The bytes
    depend on nothing but the arguments (no timestamp in the gzip header). The header member
    followed by this one is the file: gzip readers read concatenated members as one stream."""
    out: list[str] = []
    out.extend(_json({"record": "board", **board}) for board in boards)
    out.extend(_json({"record": "category", **category}) for category in categories)
    out.extend(
        f'{{"categories":{_json(list(cats))},"prompt":"{digest}","record":"prompt"}}'
        for digest, cats in zip(prompt_hashes, prompt_categories, strict=True)
    )
    columns = [np.asarray(ratings[name]).tolist() for name in _RATING_COLUMNS]
    outcome_text = {0.0: "0", 0.5: "0.5", 1.0: "1"}
    out.extend(
        f'{{"model_a":{a},"model_b":{b},"outcome":{outcome_text[o]},"preference":{pref},'
        f'"prompt":"{prompt_hashes[p]}","rater":"{raters[r]}","record":"rating"}}'
        for p, a, b, pref, o, r in zip(*columns, strict=True)
    )
    if grades is not None:
        out.extend(
            f'{{"correct":{c},"model":{m},"prompt":"{prompt_hashes[p]}","record":"grade"}}'
            for p, m, c in zip(
                *(np.asarray(grades[name]).tolist() for name in ("prompt", "model", "correct")),
                strict=True,
            )
        )
    if exposures is not None:
        out.extend(
            f'{{"model":{m},"prompt":"{prompt_hashes[p]}","record":"exposure"}}'
            for p, m in zip(
                *(np.asarray(exposures[name]).tolist() for name in ("prompt", "model")),
                strict=True,
            )
        )
    if styles is not None:
        out.extend(
            f'{{"counts":[{t},{h},{li},{bo},{c}],"model":{m},"prompt":"{prompt_hashes[p]}",'
            f'"record":"answer_style"}}'
            for p, m, t, h, li, bo, c in zip(
                *(
                    np.asarray(styles[name]).tolist()
                    for name in ("prompt", "model", *STYLE_COUNT_COLUMNS)
                ),
                strict=True,
            )
        )
    if answer_sums is not None:
        matrices = _answer_sum_matrices(answer_sums)

        def numbers(values: list[Any]) -> str:
            # What json.dumps writes for finite ints and floats (repr), without its overhead.
            return ",".join(map(repr, values))

        out.extend(
            f'{{"answers":{n},"model":{m},"prompt":"{prompt_hashes[p]}",'
            f'"record":"answer_sums","score_n":[{numbers(score_n)}],'
            f'"score_sum":[{numbers(score_sum)}],"tag_count":[{numbers(tag_count)}]}}'
            for p, m, n, score_sum, score_n, tag_count in zip(
                np.asarray(answer_sums["prompt"]).tolist(),
                np.asarray(answer_sums["model"]).tolist(),
                np.asarray(answer_sums["answers"]).tolist(),
                matrices["score_sum"],
                matrices["score_n"],
                matrices["tag_count"],
                strict=True,
            )
        )
    out.append("")
    # Level 3 (deflate's fast strategy): a third of level 6's time for a quarter more bytes.
    return gzip.compress("\n".join(out).encode(), compresslevel=3, mtime=0)


_RATING_COLUMNS = ("prompt", "model_a", "model_b", "preference", "outcome", "rater")


def answer_sum_columns(
    *,
    prompt: npt.ArrayLike,
    model: npt.ArrayLike,
    answers: npt.ArrayLike,
    score_sum: npt.ArrayLike,
    score_n: npt.ArrayLike,
    tag_count: npt.ArrayLike,
) -> dict[str, npt.NDArray[Any]]:
    """Per-answer score and tag sums as the flat columns `ratings_source_pack` keeps: one per
    rubric dimension ("score_sum:0", "score_n:0", ...) and per tag ("tag_count:0", ...)."""
    columns: dict[str, npt.NDArray[Any]] = {
        "prompt": np.asarray(prompt, dtype=np.int64),
        "model": np.asarray(model, dtype=np.int64),
        "answers": np.asarray(answers, dtype=np.int64),
    }
    for name, matrix, dtype in (
        ("score_sum", score_sum, np.float64),
        ("score_n", score_n, np.int64),
        ("tag_count", tag_count, np.int64),
    ):
        array = np.asarray(matrix, dtype=dtype).reshape(len(columns["prompt"]), -1)
        columns.update({f"{name}:{j}": array[:, j] for j in range(array.shape[1])})
    return columns


def _answer_sum_matrices(columns: Mapping[str, npt.ArrayLike]) -> dict[str, list[list[Any]]]:
    """The flat columns of `answer_sum_columns` back as per-answer lists, one per kind."""
    rows = len(np.asarray(columns["prompt"]))
    result: dict[str, list[list[Any]]] = {}
    for name in ("score_sum", "score_n", "tag_count"):
        parts = [
            np.asarray(columns[f"{name}:{j}"])
            for j in range(sum(1 for key in columns if key.startswith(f"{name}:")))
        ]
        # One tolist of the stacked matrix: a per-row list() over zipped columns cost 5 times more.
        result[name] = np.column_stack(parts).tolist() if parts else [[] for _ in range(rows)]
    return result


def ratings_source_pack(
    *,
    boards: Sequence[Mapping[str, Any]],
    categories: Sequence[Mapping[str, Any]],
    prompt_hashes: Sequence[str],
    prompt_categories: Sequence[Sequence[int]],
    ratings: Mapping[str, npt.ArrayLike],
    raters: Sequence[str],
    grades: Mapping[str, npt.ArrayLike] | None = None,
    exposures: Mapping[str, npt.ArrayLike] | None = None,
    styles: Mapping[str, npt.ArrayLike] | None = None,
    answer_sums: Mapping[str, npt.ArrayLike] | None = None,
) -> bytes:
    """The arguments of `ratings_file_body` as compact bytes: a JSON line with the lists and the
    arrays' layout, then every array as little-endian int64 (float64 for outcome), zlib level 1.

    A tenth of the time of writing the file itself; `ratings_source_unpack` gives the same
    arguments back, so the file written later is the one that would have been written now."""
    groups = {
        "ratings": ratings,
        "grades": grades,
        "exposures": exposures,
        "styles": styles,
        "answer_sums": answer_sums,
    }
    layout: list[list[Any]] = []
    chunks: list[bytes] = []
    for group, columns in groups.items():
        if columns is None:
            continue
        for name, values in columns.items():
            array = np.asarray(values)
            dtype = "<f8" if array.dtype.kind == "f" else "<i8"
            stored = dtype if dtype == "<f8" else _narrowest_int(array)
            layout.append([group, name, dtype, len(array), stored])
            chunks.append(np.ascontiguousarray(array, dtype=stored).tobytes())
    meta = {
        "boards": list(boards),
        "categories": list(categories),
        "prompt_hashes": list(prompt_hashes),
        "prompt_categories": [list(cats) for cats in prompt_categories],
        "raters": list(raters),
        "layout": layout,
    }
    return zlib.compress(_json(meta).encode() + b"\n" + b"".join(chunks), 1)


def _narrowest_int(array: npt.NDArray[Any]) -> str:
    """The smallest little-endian integer dtype that holds every value: what is compressed is
    then a quarter to an eighth of int64's bytes, and zlib's time with it."""
    if array.size == 0:
        return "<i8"
    low, high = int(array.min()), int(array.max())
    for dtype in ("<i1", "<i2", "<i4"):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return "<i8"


def ratings_source_unpack(packed: bytes) -> dict[str, Any]:
    """The keyword arguments of `ratings_file_body` that `ratings_source_pack` packed."""
    data = zlib.decompress(packed)
    end = data.index(b"\n")
    meta = json.loads(data[:end])
    arguments: dict[str, Any] = {
        name: meta[name]
        for name in ("boards", "categories", "prompt_hashes", "prompt_categories", "raters")
    }
    # Sources kept before a group existed (styles) lack it: the file is formatted without it.
    arguments["grades"] = None
    arguments["exposures"] = None
    arguments["styles"] = None
    arguments["answer_sums"] = None
    at = end + 1
    for group, name, dtype, length, *narrowed in meta["layout"]:
        # Sources kept before integers were stored narrowed hold every array at its own dtype.
        stored = narrowed[0] if narrowed else dtype
        size = np.dtype(stored).itemsize * length
        column = np.frombuffer(data, dtype=stored, count=length, offset=at).astype(dtype[1:])
        arguments[group] = (arguments.get(group) or {}) | {name: column}
        at += size
    return arguments


# --- Reading ---------------------------------------------------------------------------------


@dataclass(eq=False)
class RatingsFile:
    """A parsed ratings file: the header, the published boards, and the input as arrays."""

    header: dict[str, Any]
    boards: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    prompt_hashes: list[str]
    prompt_categories: list[list[int]]
    ratings: dict[str, IntArray | FloatArray]
    raters: list[str]
    grades: dict[str, IntArray] | None
    exposures: dict[str, IntArray]
    counts: dict[str, int] = field(default_factory=dict)
    # The rated answers' style counts (prompt codes); None: the file has no style counts.
    styles: AnswerStyles | None = None
    # Per rated answer: rating count, score and tag sums (prompt codes); None: not in the file.
    answer_sums: AnswerSums | None = None


def _bad(line: int, message: str) -> StatsInputError:
    return StatsInputError(f"line {line}: {message}")


def _int(record: Mapping[str, Any], name: str, line: int) -> int:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(line, f"{name} must be an integer, got {value!r}")
    return value


def ratings_file_read(source: str | bytes | IO[bytes]) -> RatingsFile:
    """Parse a ratings file (a path, the gzip bytes or a binary stream); errors name the line."""
    if isinstance(source, bytes):
        stream: IO[bytes] = io.BytesIO(source)
    elif isinstance(source, str):
        stream = open(source, "rb")  # noqa: SIM115 - closed below
    else:
        stream = source
    try:
        with gzip.open(stream, "rt", encoding="utf-8") as text:
            return _parse(text)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise StatsInputError(f"not a gzip-compressed ratings file: {exc}") from None
    finally:
        if isinstance(source, str):
            stream.close()


def _parse(lines: Iterable[str]) -> RatingsFile:
    header: dict[str, Any] | None = None
    boards: list[dict[str, Any]] = []
    categories: list[dict[str, Any]] = []
    hashes: list[str] = []
    prompt_categories: list[list[int]] = []
    index: dict[str, int] = {}
    raters: dict[str, int] = {}
    rating_cols: dict[str, list[Any]] = {name: [] for name in _RATING_COLUMNS}
    grade_cols: dict[str, list[int]] = {"prompt": [], "model": [], "correct": []}
    exposure_cols: dict[str, list[int]] = {"prompt": [], "model": []}
    style_cols: dict[str, list[Any]] = {"prompt": [], "model": [], "counts": []}
    sum_cols: dict[str, list[Any]] = {
        name: [] for name in ("prompt", "model", "answers", "score_sum", "score_n", "tag_count")
    }
    number = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _bad(number, f"not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise _bad(number, "a record must be a JSON object")
        kind = record.get("record")
        if number == 1:
            if kind != "snapshot" or record.get("format") != FORMAT:
                raise _bad(1, f'the first record must be the "snapshot" header of {FORMAT}')
            header = record
            continue
        if kind == "board":
            boards.append(record)
        elif kind == "category":
            categories.append(record)
        elif kind == "prompt":
            digest = record.get("prompt")
            cats = record.get("categories")
            if not isinstance(digest, str) or digest in index:
                raise _bad(number, f"prompt must be a new hash string, got {digest!r}")
            if not isinstance(cats, list) or not all(
                isinstance(c, int) and not isinstance(c, bool) for c in cats
            ):
                raise _bad(number, "categories must be a list of category ids")
            index[digest] = len(hashes)
            hashes.append(digest)
            prompt_categories.append(cats)
        elif kind in ("rating", "grade", "exposure", "answer_style", "answer_sums"):
            digest = record.get("prompt")
            if digest not in index:
                raise _bad(number, f"{kind} refers to an unknown prompt {digest!r}")
            prompt = index[digest]
            if kind == "rating":
                preference = _int(record, "preference", number)
                outcome = record.get("outcome")
                if outcome not in (0, 0.5, 1) or isinstance(outcome, bool):
                    raise _bad(number, f"outcome must be 0, 0.5 or 1, got {outcome!r}")
                if preference not in PREFERENCE_VALUES:
                    raise _bad(number, f"preference must be -2..2, got {preference!r}")
                rater = record.get("rater")
                if not isinstance(rater, str):
                    raise _bad(number, "rater must be a pseudonym string")
                model_a = _int(record, "model_a", number)
                model_b = _int(record, "model_b", number)
                if model_a == model_b:
                    raise _bad(number, "model_a and model_b must differ")
                rating_cols["prompt"].append(prompt)
                rating_cols["model_a"].append(model_a)
                rating_cols["model_b"].append(model_b)
                rating_cols["preference"].append(preference)
                rating_cols["outcome"].append(float(outcome))
                rating_cols["rater"].append(raters.setdefault(rater, len(raters)))
            elif kind == "grade":
                correct = _int(record, "correct", number)
                if correct not in (0, 1):
                    raise _bad(number, f"correct must be 0 or 1, got {correct!r}")
                grade_cols["prompt"].append(prompt)
                grade_cols["model"].append(_int(record, "model", number))
                grade_cols["correct"].append(correct)
            elif kind == "answer_sums":
                sum_cols["prompt"].append(prompt)
                sum_cols["model"].append(_int(record, "model", number))
                sum_cols["answers"].append(_int(record, "answers", number))
                for name in ("score_sum", "score_n", "tag_count"):
                    values = record.get(name)
                    if not isinstance(values, list) or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
                    ):
                        raise _bad(number, f"{name} must be a list of numbers")
                    sum_cols[name].append(values)
            elif kind == "answer_style":
                counts = record.get("counts")
                if (
                    not isinstance(counts, list)
                    or len(counts) != len(STYLE_COUNT_COLUMNS)
                    or not all(
                        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
                    )
                ):
                    raise _bad(number, "counts must be a list of 5 non-negative integers")
                style_cols["prompt"].append(prompt)
                style_cols["model"].append(_int(record, "model", number))
                style_cols["counts"].append(counts)
            else:
                exposure_cols["prompt"].append(prompt)
                exposure_cols["model"].append(_int(record, "model", number))
        else:
            raise _bad(number, f"unknown record type {kind!r}")
    if header is None:
        raise StatsInputError("the file is empty")
    ratings: dict[str, IntArray | FloatArray] = {
        name: np.asarray(values, dtype=np.int64)
        for name, values in rating_cols.items()
        if name != "outcome"
    }
    ratings["outcome"] = np.asarray(rating_cols["outcome"], dtype=np.float64)
    return RatingsFile(
        header=header,
        boards=boards,
        categories=categories,
        prompt_hashes=hashes,
        prompt_categories=prompt_categories,
        ratings=ratings,
        raters=list(raters),
        grades={k: np.asarray(v, dtype=np.int64) for k, v in grade_cols.items()}
        if header.get("numeric")
        else None,
        exposures={k: np.asarray(v, dtype=np.int64) for k, v in exposure_cols.items()},
        counts={"lines": number, "ratings": len(rating_cols["prompt"]), "prompts": len(hashes)},
        styles=AnswerStyles(
            model=np.asarray(style_cols["model"], dtype=np.int64),
            prompt=np.asarray(style_cols["prompt"], dtype=np.int64),
            counts=np.asarray(style_cols["counts"], dtype=np.int64).reshape(
                -1, len(STYLE_COUNT_COLUMNS)
            ),
        )
        if style_cols["prompt"]
        else None,
        answer_sums=_answer_sums(sum_cols, header),
    )


def _answer_sums(columns: Mapping[str, list[Any]], header: Mapping[str, Any]) -> AnswerSums | None:
    """The file's answer_sums records as the findings' input; None without a rubric."""
    rubric = header.get("rubric")
    if not rubric:
        return None
    rows = len(columns["prompt"])
    d, t = len(rubric.get("dimensions", [])), len(rubric.get("tags", []))
    try:
        return AnswerSums(
            prompt=np.asarray(columns["prompt"], dtype=np.int64),
            model=np.asarray(columns["model"], dtype=np.int64),
            answers=np.asarray(columns["answers"], dtype=np.int64),
            score_sum=np.asarray(columns["score_sum"], dtype=np.float64).reshape(rows, d),
            score_n=np.asarray(columns["score_n"], dtype=np.int64).reshape(rows, d),
            tag_count=np.asarray(columns["tag_count"], dtype=np.int64).reshape(rows, t),
        )
    except ValueError as exc:
        raise StatsInputError(f"answer_sums do not fit the header's rubric: {exc}") from None


# --- Reproducing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardInput:
    """One board to compute: its key, its rows, and the prompts its accuracy counts."""

    key: str
    rows: GroupedRows
    graded_prompts: IntArray | None
    # The category's prompts (codes); None: the overall board.
    prompts: IntArray | None = None


def board_numbers(
    board: BoardInput,
    *,
    config: RankingConfig,
    min_ratings_per_board: int,
    few_ratings: int,
    anchor: Mapping[Any, float] | None,
    grades: Mapping[str, IntArray] | None,
    exposures: Mapping[str, IntArray],
    styles: AnswerStyles | None = None,
    answer_sums: AnswerSums | None = None,
    rubric: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A board's published fields and entries, computed by the recompute's own board builder
    (and, given style counts, its style-controlled view by the recompute's own style fit)."""
    style_fit = (
        None
        if styles is None
        else StyleFitting(styles, board.rows, ridge=config.ridge, confidence=config.confidence)
    )
    core = board_core(
        board.rows,
        config=config,
        min_ratings_per_board=min_ratings_per_board,
        few_ratings=few_ratings,
        anchor=anchor,
        grades=grades,
        graded_prompts=board.graded_prompts,
        exposures=exposures,
        extra_columns=None if style_fit is None else style_fit.prompt_scores,
    )
    style = (
        None
        if style_fit is None or core.leaderboard is None
        else style_fit.finish(core.leaderboard)
    )
    lines = {} if style is None else style_lines(style)
    findings: dict[str, Any] | None = None
    found_per_model: dict[int, dict[str, Any]] = {}
    if answer_sums is not None and rubric is not None and core.n_ratings:
        sums = answer_sums if board.prompts is None else answer_sums.restrict(board.prompts)
        findings, found_per_model = board_findings(
            sums,
            dimensions=list(rubric.get("dimensions", [])),
            tags=list(rubric.get("tags", [])),
            replicas=config.replicas,
            seed=config.seed,
            confidence=config.confidence,
        )
    return {
        "key": board.key,
        "findings": findings,
        "style": None if style is None else style.to_dict(),
        "status": core.status,
        "n_ratings": core.n_ratings,
        "n_prompts": core.n_prompts,
        "n_models": core.n_models,
        "separability": core.separability,
        "entries": [
            {
                "model": entry["model"],
                **{name: entry[name] for name in ENTRY_FIELDS},
                **{name: entry.get(name) for name in SPREAD_FIELDS},
                **{name: lines.get(entry["model"], {}).get(name) for name in STYLE_ENTRY_FIELDS},
                "diagnostics": found_per_model.get(entry["model"]),
            }
            for entry in core.entries
        ],
    }


@dataclass(frozen=True)
class Reproduction:
    """What a ratings file recomputes to: the snapshot's counts, agreement and every board."""

    counts: dict[str, int]
    agreement: dict[str, Any] | None
    boards: list[dict[str, Any]]


def snapshot_reproduce(ratings_file: RatingsFile) -> Reproduction:
    """Recompute every board of the snapshot from its ratings file alone."""
    header = ratings_file.header
    config_record = header.get("config") or {}
    try:
        config = RankingConfig.from_dict(config_record["ranking"])
        min_per_board = int(config_record["min_ratings_per_board"])
        few = int(config_record["few_ratings"])
    except (KeyError, TypeError, ValueError) as exc:
        raise StatsInputError(f"line 1: config lacks the engine parameters ({exc})") from None
    r = ratings_file.ratings
    overall = ratings_group(r["prompt"], r["model_a"], r["model_b"], r["outcome"], r["preference"])
    anchors: Mapping[str, Mapping[str, float]] = (header.get("anchor") or {}).get("boards") or {}
    grades = ratings_file.grades
    graded = set() if grades is None else set(grades["prompt"].tolist())
    inputs = [BoardInput(OVERALL_KEY, overall, None)]
    for category in ratings_file.categories:
        members = np.array(
            [
                code
                for code, cats in enumerate(ratings_file.prompt_categories)
                if category["id"] in cats
            ],
            dtype=np.int64,
        )
        graded_prompts = (
            np.array([code for code in members.tolist() if code in graded], dtype=np.int64)
            if grades is not None
            else np.zeros(0, dtype=np.int64)
        )
        inputs.append(
            BoardInput(category["slug"], category_rows(overall, members), graded_prompts, members)
        )
    boards = []
    for board in inputs:
        anchor = {int(model): float(elo) for model, elo in (anchors.get(board.key) or {}).items()}
        numbers = board_numbers(
            board,
            config=config,
            min_ratings_per_board=min_per_board,
            few_ratings=few,
            anchor=anchor or None,
            grades=grades,
            exposures=ratings_file.exposures,
            styles=ratings_file.styles,
            answer_sums=ratings_file.answer_sums,
            rubric=header.get("rubric"),
        )
        boards.append(numbers)
    models = np.unique(np.concatenate([overall.model_a, overall.model_b]))
    return Reproduction(
        counts={
            "n_ratings": overall.n_ratings,
            "n_prompts": len(np.unique(overall.prompt)),
            "n_models": len(models),
        },
        agreement=agreement_compute(overall),
        boards=boards,
    )


def _differs(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        if expected is None or actual is None:
            return expected is not actual
        if isinstance(expected, bool) or isinstance(actual, bool):
            return expected != actual
        e, a = float(expected), float(actual)
        if math.isnan(e) and math.isnan(a):
            return False
        return not math.isclose(e, a, rel_tol=REL_TOLERANCE, abs_tol=1e-12)
    return bool(expected != actual)


def _nested_differences(want: Any, got: Any, where: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf where two JSON values differ, as (path, published, got)."""
    if isinstance(want, dict) and isinstance(got, dict):
        return [
            difference
            for name in sorted(set(want) | set(got))
            for difference in _nested_differences(want.get(name), got.get(name), f"{where}.{name}")
        ]
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            difference
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for difference in _nested_differences(w, g, f"{where}[{i}]")
        ]
    if isinstance(want, (dict, list)) or isinstance(got, (dict, list)):
        return [] if want == got else [(where, want, got)]
    return [(where, want, got)] if _differs(want, got) else []


# An entry's diagnostics also hold its strength against the overall board ("vs_overall", from
# the two boards' replicas), which the reproduction does not recompute: not compared.
_NOT_REPRODUCED = ("vs_overall",)


def _found(diagnostics: Any) -> Any:
    """An entry's diagnostics less what the reproduction does not recompute; None if empty."""
    if not isinstance(diagnostics, dict):
        return diagnostics
    kept = {name: value for name, value in diagnostics.items() if name not in _NOT_REPRODUCED}
    return kept or None


def snapshot_compare(
    *,
    published_counts: Mapping[str, Any],
    published_agreement: Mapping[str, Any] | None,
    published_boards: Sequence[Mapping[str, Any]],
    reproduction: Reproduction,
    parts: Collection[str] = (PART_BOARDS, PART_SPREAD, PART_STYLE, PART_FINDINGS),
) -> list[str]:
    """Every published field the reproduction does not match, as "where: published != got".

    Of the optional parts only those in `parts` are compared (the rank spread only on entries
    that carry it), so a database holding more than an older file is held to the file's parts."""
    optional = (SPREAD_FIELDS if PART_SPREAD in parts else ()) + (
        STYLE_ENTRY_FIELDS if PART_STYLE in parts else ()
    )
    entry_fields = ENTRY_FIELDS + optional
    problems: list[str] = []
    for name, value in reproduction.counts.items():
        if _differs(published_counts.get(name), value):
            problems.append(
                f"snapshot {name}: published {published_counts.get(name)!r}, got {value!r}"
            )
    got_alpha = (reproduction.agreement or {}).get("alpha")
    want_alpha = (published_agreement or {}).get("alpha")
    if _differs(want_alpha, got_alpha):
        problems.append(f"snapshot agreement alpha: published {want_alpha!r}, got {got_alpha!r}")
    got_boards = {board["key"]: board for board in reproduction.boards}
    want_boards = {board["key"]: board for board in published_boards}
    for key in sorted(set(got_boards) ^ set(want_boards)):
        where = "published only" if key in want_boards else "recomputed only"
        problems.append(f"board {key}: {where}")
    for key, want in want_boards.items():
        got = got_boards.get(key)
        if got is None:
            continue
        for name in BOARD_FIELDS:
            if _differs(want.get(name), got.get(name)):
                problems.append(
                    f"board {key} {name}: published {want.get(name)!r}, got {got.get(name)!r}"
                )
        if PART_FINDINGS in parts and "findings" in want:
            problems.extend(
                f"board {key} findings{where}: published {w!r}, got {g!r}"
                for where, w, g in _nested_differences(want["findings"], got.get("findings"))
            )
        if PART_STYLE in parts and "style" in want:
            problems.extend(
                f"board {key} style{where}: published {w!r}, got {g!r}"
                for where, w, g in _nested_differences(want["style"], got.get("style"))
            )
        want_entries = {entry["model"]: entry for entry in want.get("entries", [])}
        got_entries = {entry["model"]: entry for entry in got["entries"]}
        for model in sorted(set(want_entries) ^ set(got_entries)):
            where = "published only" if model in want_entries else "recomputed only"
            problems.append(f"board {key} model {model}: {where}")
        for model, want_entry in want_entries.items():
            got_entry = got_entries.get(model)
            if got_entry is None:
                continue
            if PART_FINDINGS in parts and "diagnostics" in want_entry:
                problems.extend(
                    f"board {key} model {model} diagnostics{where}: published {w!r}, got {g!r}"
                    for where, w, g in _nested_differences(
                        _found(want_entry["diagnostics"]), _found(got_entry.get("diagnostics"))
                    )
                )
            for name in entry_fields:
                if name not in want_entry and name in optional:
                    continue
                if _differs(want_entry.get(name), got_entry.get(name)):
                    problems.append(
                        f"board {key} model {model} {name}: published "
                        f"{want_entry.get(name)!r}, got {got_entry.get(name)!r}"
                    )
    return problems


def ratings_file_parts(ratings_file: RatingsFile) -> list[str]:
    """The parts of the snapshot the file carries, so a reproduction checks (and names) them."""
    parts = [PART_BOARDS]
    entries = [entry for board in ratings_file.boards for entry in board.get("entries") or []]
    if entries and all(name in entry for entry in entries for name in SPREAD_FIELDS):
        parts.append(PART_SPREAD)
    # Style control is checked when every board says what its style view was (None included):
    # a file formatted from a source kept before style counts has neither counts nor views.
    if (
        ratings_file.boards
        and all("style" in board for board in ratings_file.boards)
        and all(name in entry for entry in entries for name in STYLE_ENTRY_FIELDS)
    ):
        parts.append(PART_STYLE)
    if (
        ratings_file.boards
        and "rubric" in ratings_file.header
        and all("findings" in board for board in ratings_file.boards)
        and all("diagnostics" in entry for entry in entries)
    ):
        parts.append(PART_FINDINGS)
    return parts


def ratings_file_verify(ratings_file: RatingsFile) -> tuple[Reproduction, list[str]]:
    """Recompute the file's snapshot and compare it with the published numbers the file carries."""
    reproduction = snapshot_reproduce(ratings_file)
    header = ratings_file.header
    problems = snapshot_compare(
        published_counts=header.get("counts") or {},
        published_agreement=header.get("agreement"),
        published_boards=ratings_file.boards,
        reproduction=reproduction,
        parts=ratings_file_parts(ratings_file),
    )
    return reproduction, problems


def reproduction_table(reproduction: Reproduction) -> list[str]:
    """The recomputed boards as plain text lines: rank, model id, Elo and interval, votes."""
    lines: list[str] = []
    for board in reproduction.boards:
        lines.append(
            f"[{board['key']}] {board['status']}: {board['n_ratings']} ratings, "
            f"{board['n_prompts']} prompts, {board['n_models']} models"
        )
        for entry in board["entries"]:
            if entry["elo"] is None:
                lines.append(
                    f"    -  model {entry['model']}: not ranked ({entry['not_ranked_reason']}), "
                    f"{entry['n_ratings']} ratings"
                )
                continue
            lines.append(
                f"  {entry['rank']:>3} (>= {entry['rank_with_uncertainty']})  model "
                f"{entry['model']}: {entry['elo']:.1f} [{entry['lower']:.1f}, "
                f"{entry['upper']:.1f}], {entry['n_ratings']} ratings"
            )
    return lines
