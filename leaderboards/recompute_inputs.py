"""Every database read a recompute of a domain does, and the fingerprint of what it read.

`recompute_inputs_read` reads, in one repeatable-read transaction on PostgreSQL: the season,
the approved ratings one by one (grouped here in numpy), the categories, the auto-grading and
the exposure flags, the answers' style counts, the kept score and tag totals, and the
published Elo the new boards are anchored on; it fingerprints all of it with the engine's
parameters. Nothing here writes, and nothing here computes a board: that is
leaderboards/recompute.py, pure computation from the `RecomputeInputs` returned here.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, Max, Q
from django.db.models.functions import Cast
from psycopg import ClientCursor

from annotation.models import ApprovedAnswerSums, ApprovedRating
from leaderboards.grading import numeric_answer_is_correct
from leaderboards.models import PublishedLeaderboard, SnapshotEntry
from leaderboards.stats import ENGINE_VERSION, AnswerSums, RankingConfig
from leaderboards.stats.board import AnswerStyles, GroupedRows, category_rows, ratings_group
from seal.models import Category, Domain, Prompt, PromptSet, Response, ResponseStyle
from seal.rubrics import KEY_PATTERN

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# Bump when the snapshot content for the same input and engine changes (grading rules, say).
# 2: rank spreads and the style-controlled view are part of every board.
PIPELINE_VERSION = "2"
# Bump when what experts found (rubric-score means, tag rates, strengths) is computed otherwise.
DIAGNOSTICS_VERSION = "1"


@dataclass(frozen=True)
class Thresholds:
    replicas: int
    min_ratings_per_model: int
    min_ratings_per_board: int
    few_ratings: int
    seed: int | None

    @classmethod
    def from_settings(cls) -> Thresholds:
        seed = settings.SEAL_LEADERBOARD_SEED
        return cls(
            replicas=int(settings.SEAL_LEADERBOARD_REPLICAS),
            min_ratings_per_model=int(settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL),
            min_ratings_per_board=int(settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD),
            few_ratings=int(settings.SEAL_LEADERBOARD_FEW_RATINGS),
            seed=None if seed is None else int(seed),
        )


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    facet: str
    value: str
    slug: str

    @property
    def title(self) -> str:
        return f"{self.facet.replace('_', ' ').capitalize()}: {self.value}"


@dataclass(frozen=True, eq=False)
class Grades:
    """One auto-graded answer per (model, prompt): 1 correct, 0 wrong."""

    model: IntArray
    prompt: IntArray
    correct: IntArray

    def columns(self) -> dict[str, IntArray]:
        """The grades as the board builder takes them."""
        return {"model": self.model, "prompt": self.prompt, "correct": self.correct}


@dataclass(frozen=True, eq=False)
class RecomputeInputs:
    domain_id: int
    numeric: bool
    overall: GroupedRows
    by_category: dict[int, GroupedRows]
    categories: list[CategoryInfo]
    category_prompts: dict[int, IntArray]
    grades: Grades | None
    exposed_model: IntArray
    exposed_prompt: IntArray
    thresholds: Thresholds
    config: RankingConfig
    fingerprint: str
    ratings_through: datetime | None
    styles: AnswerStyles | None = None
    # The published snapshot whose ranked Elo anchors the scale, per board key. Not part of
    # the fingerprint: the same ratings re-published must not make a new snapshot each time.
    anchor_snapshot_id: int | None = None
    anchors: dict[str, dict[int, float]] = field(default_factory=dict)
    # What experts found: per (prompt, model) sums of scores and tags, the rubric's dimensions
    # and tags (key, label, scale) as they stand now, and each category's prompts.
    answers: AnswerSums | None = None
    rubric_meta: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    category_prompt_ids: dict[int, IntArray] = field(default_factory=dict)
    # The ratings one by one (the grouped rows above are computed from exactly these) and the
    # prompts' categories: what the anonymised ratings file of the snapshot holds.
    ratings: RatingRows | None = None
    prompt_categories: list[tuple[int, int]] = field(default_factory=list)
    # The season: the prompt set whose ratings count (the active one), None for every rating.
    prompt_set_id: int | None = None
    season: str | None = None

    def exposure_columns(self) -> dict[str, IntArray]:
        """The exposed answers as the board builder takes them."""
        return {"model": self.exposed_model, "prompt": self.exposed_prompt}

    def config_record(self) -> dict[str, Any]:
        """The parameters a snapshot stores: enough to reproduce it."""
        return {
            "ranking": self.config.to_dict(),
            "min_ratings_per_board": self.thresholds.min_ratings_per_board,
            "few_ratings": self.thresholds.few_ratings,
            "seed_source": "setting" if self.thresholds.seed is not None else "fingerprint",
            "engine_version": ENGINE_VERSION,
            "pipeline_version": PIPELINE_VERSION,
            "numpy": np.__version__,
            "accuracy": "wilson" if self.numeric else None,
            "style_control": "bradley_terry_style_covariates",
            "diagnostics": {
                "version": DIAGNOSTICS_VERSION,
                "resample": "prompt",
                "interval": "percentile",
                "strengths": "category minus overall Elo, centred on shared models; basic",
            },
        }


def recompute_inputs_read(*, domain: Domain) -> RecomputeInputs:
    """Everything a recompute of `domain` depends on, read as one consistent state."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return recompute_inputs_load(domain=domain)
    # Every query (ratings, grading, totals) must see the same ratings: one snapshot of the
    # database for the whole read, whatever commits meanwhile.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return recompute_inputs_load(domain=domain)


def _digest_arrays(digest: Any, *arrays: npt.NDArray[Any]) -> None:
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        digest.update(b"|")


def recompute_inputs_load(*, domain: Domain) -> RecomputeInputs:
    """Read everything a recompute of `domain` depends on, and fingerprint it."""
    thresholds = Thresholds.from_settings()
    numeric = domain.answer_grading == Domain.AnswerGrading.NUMERIC
    # One query reads the ratings one by one; every board's grouped rows are computed from
    # them, so the ratings file written from the same arrays reproduces the boards exactly.
    season = current_season(domain_id=domain.pk)
    prompt_set_id = None if season is None else season[0]
    ratings = approved_rating_rows(domain_id=domain.pk, prompt_set_id=prompt_set_id)
    overall = ratings_group(
        ratings.prompt, ratings.model_a, ratings.model_b, ratings.outcome, ratings.preference
    )
    categories = [CategoryInfo(*row) for row in domain_categories(domain_id=domain.pk)]
    pairs = prompt_category_pairs(domain_id=domain.pk)
    by_category: dict[int, GroupedRows] = {}
    if len(overall.prompt) and pairs:
        pair_array = np.array(pairs, dtype=np.int64)
        for category in categories:
            members = pair_array[pair_array[:, 1] == category.id, 0]
            rows = category_rows(overall, members)
            if len(rows.prompt):
                by_category[category.id] = rows
    model_ids = np.unique(np.concatenate([overall.model_a, overall.model_b]))
    grades: Grades | None = None
    category_prompts: dict[int, IntArray] = {}
    if numeric and len(model_ids):
        graded = graded_answers(
            domain_id=domain.pk, model_ids=model_ids.tolist(), prompt_set_id=prompt_set_id
        )
        grades = Grades(
            model=np.array([row[0] for row in graded], dtype=np.int64),
            prompt=np.array([row[1] for row in graded], dtype=np.int64),
            correct=np.array([row[2] for row in graded], dtype=np.int64),
        )
        # Accuracy on a category board counts every graded answer in that category.
        category_prompts = _graded_category_prompts(pairs, grades, categories)
    exposed = exposed_answers(
        domain_id=domain.pk, model_ids=model_ids.tolist(), prompt_set_id=prompt_set_id
    )
    # Looked up per rated (prompt, pair) row, so only this season's answers are ever used.
    styles = answer_styles(domain_id=domain.pk)
    exposed_model = np.array([row[0] for row in exposed], dtype=np.int64)
    exposed_prompt = np.array([row[1] for row in exposed], dtype=np.int64)

    digest = hashlib.sha256(f"seal-leaderboard|{domain.pk}|{PIPELINE_VERSION}|".encode())
    if prompt_set_id is not None:
        digest.update(f"season|{prompt_set_id}|".encode())
    overall.digest_update(digest)
    for category in categories:
        digest.update(f"category|{category.id}|{category.facet}|{category.value}|".encode())
        if category.id in by_category:
            by_category[category.id].digest_update(digest)
    if grades is not None:
        order = np.lexsort((grades.prompt, grades.model))
        _digest_arrays(digest, grades.model[order], grades.prompt[order], grades.correct[order])
    order = np.lexsort((exposed_prompt, exposed_model))
    _digest_arrays(digest, exposed_model[order], exposed_prompt[order])
    digest.update(b"styles|")
    styles.digest_update(digest)
    rubric_meta = _rubric_meta(domain)
    # The kept totals cover the whole domain: checked against the domain's rating count (the
    # season's would never match them), then cut to this season's prompts.
    domain_ratings = None if prompt_set_id is not None else overall.n_ratings
    answers = _answer_sums(domain.pk, rubric_meta, domain_ratings) if len(model_ids) else None
    if answers is not None and prompt_set_id is not None:
        answers = answers.restrict(np.unique(overall.prompt))
    digest.update(json.dumps(rubric_meta, sort_keys=True).encode())
    if answers is not None:
        for array in (answers.prompt, answers.model, answers.answers, answers.score_n):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(answers.score_sum, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(answers.tag_count, dtype=np.int64).tobytes())
    category_prompt_ids: dict[int, IntArray] = {}
    if answers is not None and categories:
        members = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        for category in categories:
            category_prompt_ids[category.id] = np.unique(members[members[:, 1] == category.id, 0])
    data_digest = digest.hexdigest()
    seed = thresholds.seed if thresholds.seed is not None else int(data_digest[:8], 16) >> 1
    config = RankingConfig(
        replicas=thresholds.replicas, seed=seed, min_ratings=thresholds.min_ratings_per_model
    )
    summary = approved_summary(domain_id=domain.pk, prompt_set_id=prompt_set_id)
    anchor_snapshot_id, anchors = published_board_elo(domain_id=domain.pk)
    inputs = RecomputeInputs(
        domain_id=domain.pk,
        numeric=numeric,
        overall=overall,
        by_category=by_category,
        categories=categories,
        category_prompts=category_prompts,
        grades=grades,
        exposed_model=exposed_model,
        exposed_prompt=exposed_prompt,
        thresholds=thresholds,
        config=config,
        fingerprint="",
        ratings_through=summary,
        anchor_snapshot_id=anchor_snapshot_id,
        anchors=anchors,
        styles=styles,
        answers=answers,
        rubric_meta=rubric_meta,
        category_prompt_ids=category_prompt_ids,
        ratings=ratings,
        prompt_categories=pairs,
        prompt_set_id=prompt_set_id,
        season=None if season is None else season[1],
    )
    record = json.dumps(inputs.config_record(), sort_keys=True, default=str)
    fingerprint = hashlib.sha256(f"{data_digest}|{record}".encode()).hexdigest()
    return RecomputeInputs(**{**inputs.__dict__, "fingerprint": fingerprint})


def _rubric_meta(domain: Domain) -> dict[str, list[dict[str, Any]]]:
    """The rubric's dimensions and issue tags as a snapshot keeps them (labels, not only keys)."""
    rubric = domain.parsed_rubric
    return {
        "dimensions": [
            {"key": d.key, "label": d.label, "min": d.scale.min, "max": d.scale.max}
            for d in rubric.dimensions
        ],
        "tags": [{"key": t.key, "label": t.label} for t in rubric.issue_tags],
    }


def _answer_sums(
    domain_id: int, rubric_meta: dict[str, list[dict[str, Any]]], ratings: int | None = None
) -> AnswerSums:
    """The database's per (prompt, model) score and tag sums, in (prompt, model) order."""
    dimensions = [d["key"] for d in rubric_meta["dimensions"]]
    tags = [t["key"] for t in rubric_meta["tags"]]
    matrix = approved_answer_sums(
        domain_id=domain_id, dimension_keys=dimensions, tag_keys=tags, ratings=ratings
    )
    matrix = matrix[np.lexsort((matrix[:, 1], matrix[:, 0]))]
    d = len(dimensions)
    return AnswerSums(
        prompt=matrix[:, 0].astype(np.int64),
        model=matrix[:, 1].astype(np.int64),
        answers=matrix[:, 2].astype(np.int64),
        score_sum=np.nan_to_num(matrix[:, 3 : 3 + d], nan=0.0),
        score_n=matrix[:, 3 + d : 3 + 2 * d].astype(np.int64),
        tag_count=matrix[:, 3 + 2 * d :].astype(np.int64),
    )


def _graded_category_prompts(
    pairs: list[tuple[int, int]], grades: Grades, categories: list[CategoryInfo]
) -> dict[int, IntArray]:
    graded = set(grades.prompt.tolist())
    result: dict[int, list[int]] = {category.id: [] for category in categories}
    for prompt_id, category_id in pairs:
        if prompt_id in graded and category_id in result:
            result[category_id].append(prompt_id)
    return {key: np.unique(np.array(value, dtype=np.int64)) for key, value in result.items()}


# --- The reads --------------------------------------------------------------------------------

_COUNTS = {
    "wins_a": Count("pk", filter=Q(outcome=1.0)),
    "ties": Count("pk", filter=Q(outcome=0.5)),
    "wins_b": Count("pk", filter=Q(outcome=0.0)),
    # The strong ends of the 5-point scale: with the outcome counts they give every unit's
    # preference distribution, which is what the agreement statistic needs.
    "much_a": Count("pk", filter=Q(preference=2)),
    "much_b": Count("pk", filter=Q(preference=-2)),
}
_KEYS = ("prompt_id", "model_a_id", "model_b_id")


def _matrix(rows: list[tuple[int, ...]], width: int) -> IntArray:
    if not rows:
        return np.zeros((0, width), dtype=np.int64)
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _int_rows(query: Any, width: int) -> IntArray:
    """The rows of a values_list query of `width` integer columns, as an int64 matrix.

    On PostgreSQL the database packs every row into one bytea of big-endian int8s, read by a
    binary COPY and numpy: 300,000 rows as Python tuples cost ten times the CPU."""
    sql, params = query.query.sql_with_params()
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return _matrix(cursor.fetchall(), width)
    names = ", ".join(f"c{i}" for i in range(width))
    packed = " || ".join(f"int8send(c{i}::int8)" for i in range(width))
    statement = (
        f"COPY (SELECT string_agg({packed}, ''::bytea) FROM ({sql}) AS q ({names})) "  # noqa: S608
        "TO STDOUT (FORMAT BINARY)"
    )
    # COPY takes no bound parameters: the values are quoted in by psycopg, for this connection.
    statement = ClientCursor(connection.connection).mogrify(statement, params)
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        data = b"".join(bytes(block) for block in copy)
    return np.frombuffer(_binary_copy_value(data), dtype=">i8").astype(np.int64).reshape(-1, width)


def _binary_copy_value(data: bytes) -> bytes:
    """The one field of the one row of a PostgreSQL binary COPY (empty if NULL): signature,
    flags, header extension, an int16 field count (1), an int32 length and the bytes, and an
    int16 -1 to end."""
    if data[:11] != _COPY_SIGNATURE or data[-2:] != b"\xff\xff":
        raise ValueError("not a PostgreSQL binary COPY stream")
    at = 19 + int.from_bytes(data[15:19], "big")
    if int.from_bytes(data[at : at + 2], "big") != 1:
        raise ValueError("expected one row of one field")
    length = int.from_bytes(data[at + 2 : at + 6], "big", signed=True)
    return data[at + 6 : at + 6 + max(length, 0)]


def approved_counts(*, domain_id: int) -> GroupedRows:
    """The domain's approved ratings as one row per (prompt, model_a, model_b): one query."""
    rows = (
        ApprovedRating.objects.filter(domain_id=domain_id)
        .order_by()
        .values(*_KEYS)
        .annotate(**_COUNTS)
        .values_list(*_KEYS, *_COUNTS)
    )
    return GroupedRows.from_matrix(_matrix(list(rows), 8))


@dataclass(frozen=True, eq=False)
class RatingRows:
    """The domain's approved ratings, one per row, as parallel arrays (no text, no identity but
    the annotator's id, which the ratings file replaces by a per-snapshot pseudonym)."""

    prompt: IntArray
    model_a: IntArray
    model_b: IntArray
    preference: IntArray
    outcome: npt.NDArray[np.float64]
    annotator: IntArray

    def __len__(self) -> int:
        return len(self.prompt)


def _season(prompt_set_id: int | None, prefix: str = "prompt__") -> dict[str, int]:
    """The filter that keeps a season's rows: those on prompts of its prompt set (all if None)."""
    return {} if prompt_set_id is None else {f"{prefix}prompt_set_id": prompt_set_id}


def current_season(*, domain_id: int) -> tuple[int, str] | None:
    """The domain's active prompt set (id, version): the season a recompute computes now."""
    return (
        PromptSet.objects.filter(domain_id=domain_id, status=PromptSet.Status.ACTIVE)
        .values_list("pk", "version")
        .first()
    )


def approved_rating_rows(*, domain_id: int, prompt_set_id: int | None = None) -> RatingRows:
    """Every approved rating of the domain (of one season if given): one query, read as integers."""
    query = (
        ApprovedRating.objects.filter(domain_id=domain_id, **_season(prompt_set_id))
        .order_by()
        # 0, 0.5 or 1 (a check constraint): twice it is an exact integer.
        .annotate(outcome_twice=Cast(F("outcome") * 2, BigIntegerField()))
        .values_list(
            "prompt_id", "model_a_id", "model_b_id", "preference", "annotator_id", "outcome_twice"
        )
    )
    ints = _int_rows(query, 6)
    return RatingRows(
        prompt=np.ascontiguousarray(ints[:, 0]),
        model_a=np.ascontiguousarray(ints[:, 1]),
        model_b=np.ascontiguousarray(ints[:, 2]),
        preference=np.ascontiguousarray(ints[:, 3]),
        outcome=ints[:, 5] / 2.0,
        annotator=np.ascontiguousarray(ints[:, 4]),
    )


def approved_counts_by_category(*, domain_id: int) -> tuple[GroupedRows, IntArray]:
    """The same rows for every category board at once, joined through the prompts' categories.

    Returns the rows and, aligned with them, the category id of each (a prompt in two
    categories contributes its rows to both)."""
    rows = (
        ApprovedRating.objects.filter(domain_id=domain_id, prompt__categories__isnull=False)
        .order_by()
        .values("prompt__categories", *_KEYS)
        .annotate(**_COUNTS)
        .values_list("prompt__categories", *_KEYS, *_COUNTS)
    )
    matrix = _matrix(list(rows), 9)
    return GroupedRows.from_matrix(matrix[:, 1:]), np.ascontiguousarray(matrix[:, 0])


def approved_answer_sums(
    *,
    domain_id: int,
    dimension_keys: Sequence[str],
    tag_keys: Sequence[str],
    ratings: int | None = None,
) -> npt.NDArray[np.float64]:
    """Rated answers per (prompt, model) with score sums, score counts and tag counts.

    Columns as `approved_answer_sums_unpacked`. Read from the totals kept at final approval
    (`ApprovedAnswerSums`, one query); when those do not account for every approved rating of
    the domain (two answers each: rows written by a path that skipped the totals), from the
    ratings themselves. `ratings`, the domain's approved ratings as the caller counted them in
    the same transaction, spares counting them again.
    """
    matrix, counted = _answer_sums_kept(
        domain_id=domain_id, dimension_keys=dimension_keys, tag_keys=tag_keys, ratings=ratings
    )
    if int(matrix[:, 2].sum()) == 2 * counted:
        return matrix
    return approved_answer_sums_unpacked(
        domain_id=domain_id, dimension_keys=dimension_keys, tag_keys=tag_keys
    )


def _answer_sums_kept(
    *, domain_id: int, dimension_keys: Sequence[str], tag_keys: Sequence[str], ratings: int | None
) -> tuple[npt.NDArray[np.float64], int]:
    """The kept totals as a matrix (columns as `approved_answer_sums`) and the rating count."""

    table = ApprovedAnswerSums._meta.db_table
    wanted = [f"s:{key}" for key in dimension_keys] + [f"c:{key}" for key in dimension_keys]
    wanted += [f"t:{key}" for key in tag_keys]
    count_sql = f"SELECT COUNT(*) FROM {ApprovedRating._meta.db_table} WHERE domain_id = %s"  # noqa: S608
    # Rows of one layout (`keys`) come back as one byte string of fixed-size records:
    # prompt, model, answers (int64) and the totals (float64), all big-endian.
    blobs: list[tuple[str, bytes]] = []
    with connection.cursor() as cursor:
        if ratings is None:
            cursor.execute(count_sql, [domain_id])
            ratings = int(cursor.fetchone()[0])
        if connection.vendor == "postgresql":
            # Binary COPY: the bytes as they are, not hex text to decode (one row per layout).
            with cursor.copy(
                "COPY (SELECT s.keys, string_agg(int8send(s.prompt_id) || "  # noqa: S608
                "int8send(s.model_version_id) || int8send(s.answers::int8) || s.totals, "
                f"''::bytea) FROM {table} s WHERE s.domain_id = {int(domain_id)} "
                "GROUP BY s.keys) TO STDOUT (FORMAT BINARY)"
            ) as copy:
                blobs = _binary_copy_pairs(b"".join(bytes(block) for block in copy))
        else:
            cursor.execute(
                f"SELECT keys, prompt_id, model_version_id, answers, totals FROM {table} "  # noqa: S608
                "WHERE domain_id = %s",
                [domain_id],
            )
            parts: dict[str, list[bytes]] = defaultdict(list)
            for keys, prompt_id, model_id, answers, totals in cursor.fetchall():
                parts[keys].append(struct.pack(">qqq", prompt_id, model_id, answers))
                parts[keys].append(bytes(totals))
            blobs = [(keys, b"".join(chunks)) for keys, chunks in parts.items()]
    blocks = [np.zeros((0, 3 + len(wanted)))]
    for keys, blob in blobs:
        layout = keys.split(",") if keys else []
        record = np.dtype([("id", ">i8", (3,)), ("totals", ">f8", (len(layout),))])
        rows = np.frombuffer(blob, dtype=record)
        block = np.zeros((len(rows), 3 + len(wanted)))
        block[:, :3] = rows["id"]
        position = {name: index for index, name in enumerate(layout)}
        for column, name in enumerate(wanted, start=3):
            if name in position:
                block[:, column] = rows["totals"][:, position[name]]
        blocks.append(block)
    return np.concatenate(blocks), ratings


def _binary_copy_pairs(data: bytes) -> list[tuple[str, bytes]]:
    """(text, bytea) rows of a PostgreSQL binary COPY: signature, flags, extension, then per
    row an int16 field count and each field as int32 length and bytes; int16 -1 ends it."""
    if data[:11] != b"PGCOPY\n\xff\r\n\x00":
        raise ValueError("not a PostgreSQL binary COPY stream")
    at = 19 + int.from_bytes(data[15:19], "big")
    rows: list[tuple[str, bytes]] = []
    while int.from_bytes(data[at : at + 2], "big", signed=True) == 2:
        at += 2
        fields = []
        for _ in range(2):
            length = int.from_bytes(data[at : at + 4], "big", signed=True)
            fields.append(data[at + 4 : at + 4 + max(length, 0)])
            at += 4 + max(length, 0)
        rows.append((fields[0].decode(), fields[1]))
    return rows


def approved_answer_sums_unpacked(
    *, domain_id: int, dimension_keys: Sequence[str], tag_keys: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Rated answers per (prompt, model) with score sums, score counts and tag counts: one query.

    Columns: prompt, model, answers, one score sum per dimension, one score count per
    dimension, one tag count per tag (an answer counts once per tag it carries). The database
    unpacks the JSON and groups; a NULL score (a rating approved before scores were copied,
    or a dimension added later) is not counted. Scores are numbers: the copy trigger makes
    them the rating's, which the rubric validated.
    """

    postgres = connection.vendor == "postgresql"
    dims = [f"s{i}" for i in range(len(dimension_keys))]
    tags = [f"t{i}" for i in range(len(tag_keys))]
    columns: list[str] = []
    params: list[str] = []
    record = ""
    if postgres:
        # jsonb_to_record unpacks every dimension of a row in one call (cheaper than one ->
        # per key); its columns are named after the keys, which the rubric limits to
        # [a-z][a-z0-9_]*, and a NULL (unscored) row gives NULLs through the LEFT JOIN.
        for key in dimension_keys:
            if not KEY_PATTERN.match(key):
                raise ValueError(f"rubric dimension key {key!r} is not a plain name")
        record = ", ".join(f'"{key}" float' for key in dimension_keys)
        columns += [f'sc."{key}"' for key in dimension_keys]
        for key in tag_keys:
            columns.append("(r.issue_tags_{side} ? %s)::int")
            params.append(key)
    else:
        for key in dimension_keys:
            columns.append("json_extract(r.scores_{side}, '$.' || %s)")
            params.append(key)
        for key in tag_keys:
            columns.append(
                "EXISTS (SELECT 1 FROM json_each(r.issue_tags_{side}) WHERE json_each.value = %s)"
            )
            params.append(key)
    table = ApprovedRating._meta.db_table

    def side(letter: str) -> str:
        selected = "".join(
            f", {column.format(side=letter)} AS {name}"
            for column, name in zip(columns, dims + tags, strict=True)
        )
        joined = (
            f" LEFT JOIN LATERAL jsonb_to_record(r.scores_{letter}) AS sc({record}) ON true"
            if postgres and record
            else ""
        )
        # Only fixed column names, validated keys and placeholders are formatted in; every
        # value is a parameter.
        return (
            f"SELECT r.prompt_id AS prompt_id, r.model_{letter}_id AS model_id{selected} "  # noqa: S608
            f"FROM {table} r{joined} WHERE r.domain_id = %s"
        )

    aggregates = [
        "COUNT(*) AS n",
        *(f"COALESCE(SUM({name}), 0) AS sum_{name}" for name in dims),
        *(f"COUNT({name}) AS n_{name}" for name in dims),
        *(f"SUM({name}) AS sum_{name}" for name in tags),
    ]
    names = [
        "prompt_id",
        "model_id",
        "n",
        *(f"sum_{name}" for name in dims),
        *(f"n_{name}" for name in dims),
        *(f"sum_{name}" for name in tags),
    ]
    # The whole result comes back as one comma-separated text: turning some 100,000 rows of
    # 20 cells into Python tuples cost twice as long as the query itself.
    if postgres:
        aggregate = f"string_agg(concat_ws(',', {', '.join(names)}), ',')"
    else:
        joined = " || ',' || ".join(names)
        aggregate = f"group_concat({joined}, ',')"
    sql = (
        f"SELECT {aggregate} FROM (SELECT prompt_id, model_id, {', '.join(aggregates)} "  # noqa: S608
        f"FROM ({side('a')} UNION ALL {side('b')}) sides GROUP BY prompt_id, model_id) grouped"
    )
    width = 3 + 2 * len(dimension_keys) + len(tag_keys)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, domain_id, *params, domain_id])
        (text,) = cursor.fetchone()
    if not text:
        return np.zeros((0, width), dtype=np.float64)
    flat = np.fromstring(text, dtype=np.float64, sep=",")
    return flat.reshape(-1, width)


def approved_summary(*, domain_id: int, prompt_set_id: int | None = None) -> datetime | None:
    """When the latest rating counted for the domain (the season) was finally approved."""
    latest: datetime | None = ApprovedRating.objects.filter(
        domain_id=domain_id, **_season(prompt_set_id)
    ).aggregate(latest=Max("approved_at"))["latest"]
    return latest


def domain_categories(*, domain_id: int) -> list[tuple[int, str, str, str]]:
    """(id, facet, value, slug) of every category of the domain, in display order."""
    return list(
        Category.objects.filter(domain_id=domain_id)
        .order_by("facet", "value")
        .values_list("pk", "facet", "value", "slug")
    )


def prompt_category_pairs(*, domain_id: int) -> list[tuple[int, int]]:
    """(prompt id, category id) of every categorised prompt of the domain."""
    through = Prompt.categories.through
    return list(
        through.objects.filter(category__domain_id=domain_id).values_list(
            "prompt_id", "category_id"
        )
    )


def graded_answers(
    *, domain_id: int, model_ids: list[int], prompt_set_id: int | None = None
) -> list[tuple[int, int, int]]:
    """(model, prompt, 1 if correct else 0) for every collected answer to a gold-answer prompt
    (of the season's prompt set if given)."""
    answers = (
        Response.objects.filter(
            **_season(prompt_set_id),
            prompt__prompt_set__domain_id=domain_id,
            status=Response.Status.OK,
            model_version_id__in=model_ids,
        )
        .exclude(prompt__gold_answer="")
        .order_by()
        .values_list("model_version_id", "prompt_id", "text", "prompt__gold_answer")
        .iterator(chunk_size=2000)
    )
    return [
        (model, prompt, int(numeric_answer_is_correct(response_text=text, gold_answer=gold)))
        for model, prompt, text, gold in answers
    ]


def answer_styles(*, domain_id: int) -> AnswerStyles:
    """The stored style counts (tokens, headers, list items, bold, code blocks) of every
    collected answer to the domain's prompts: one query."""
    query = (
        ResponseStyle.objects.filter(response__prompt__prompt_set__domain_id=domain_id)
        .order_by()
        .values_list(
            "response__model_version_id",
            "response__prompt_id",
            "tokens",
            "headers",
            "list_items",
            "bold",
            "code_blocks",
        )
    )
    matrix = _int_rows(query, 7)
    return AnswerStyles(
        model=matrix[:, 0].copy(), prompt=matrix[:, 1].copy(), counts=matrix[:, 2:].copy()
    )


def exposed_answers(
    *, domain_id: int, model_ids: list[int], prompt_set_id: int | None = None
) -> list[tuple[int, int]]:
    """(model, prompt) of answers given after the model's lab had already been sent the prompt."""
    return list(
        Response.objects.filter(
            **_season(prompt_set_id),
            prompt__prompt_set__domain_id=domain_id,
            model_version_id__in=model_ids,
            lab_previously_exposed=True,
        )
        .order_by()
        .values_list("model_version_id", "prompt_id")
    )


def published_board_elo(*, domain_id: int) -> tuple[int | None, dict[str, dict[int, float]]]:
    """The published snapshot of a domain and the Elo of each ranked model on each of its boards.

    A recompute anchors its scale on these, so that models ranked in both keep their numbers.
    """
    pointer = PublishedLeaderboard.objects.filter(domain_id=domain_id).first()
    if pointer is None:
        return None, {}
    boards: dict[str, dict[int, float]] = defaultdict(dict)
    rows = SnapshotEntry.objects.filter(
        snapshot_id=pointer.snapshot_id, rank__isnull=False, elo__isnull=False
    ).values_list("board_key", "model_version_id", "elo")
    for board_key, model_id, elo in rows:
        if elo is not None:
            boards[board_key][model_id] = elo
    return pointer.snapshot_id, dict(boards)
