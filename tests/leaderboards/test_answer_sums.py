"""The score and tag totals kept at final approval (ApprovedAnswerSums) and how a recompute
reads them: the same numbers as unpacking every approved rating, one query without a GROUP BY
over the ratings, and the ratings themselves whenever the totals do not account for all of
them (both databases)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import ApprovedAnswerSums, ApprovedRating
from annotation.services import approved_answer_sums_rebuild
from leaderboards.recompute_inputs import (
    _rubric_meta,
    approved_answer_sums,
    approved_answer_sums_unpacked,
    recompute_inputs_load,
)
from tests.builders import build_world, leaderboard_world
from tests.leaderboards.test_findings import _rate_everything

pytestmark = pytest.mark.django_db


def _both(domain):
    meta = _rubric_meta(domain)
    dimensions = [d["key"] for d in meta["dimensions"]]
    tags = [t["key"] for t in meta["tags"]]
    with CaptureQueriesContext(connection) as queries:
        read = approved_answer_sums(domain_id=domain.pk, dimension_keys=dimensions, tag_keys=tags)
    unpacked = approved_answer_sums_unpacked(
        domain_id=domain.pk, dimension_keys=dimensions, tag_keys=tags
    )
    unpacked_json = any("GROUP BY prompt_id, model_id" in q["sql"] for q in queries)

    def ordered(matrix):
        return np.nan_to_num(matrix[np.lexsort((matrix[:, 1], matrix[:, 0]))])

    return ordered(read), ordered(unpacked), unpacked_json


def test_final_approval_keeps_the_totals_and_the_recompute_reads_them(db, settings):
    settings.SEAL_GOLD_RATE = 0.0
    world = build_world(task_count=3)
    _rate_everything(world)
    assert ApprovedRating.objects.count() == 9
    # Two models on three prompts: one row per (prompt, model), six answers each side.
    rows = ApprovedAnswerSums.objects.filter(domain=world.domain)
    assert rows.count() == 6 and sum(row.answers for row in rows) == 18
    read, unpacked, unpacked_json = _both(world.domain)
    assert not unpacked_json
    assert len(read) == 6 and np.array_equal(read, unpacked)
    # Scores 4 and 2 per answer (good_rating); tag "correctness" on every 2.
    assert read[:, 3:].sum() > 0
    with CaptureQueriesContext(connection) as queries:
        recompute_inputs_load(domain=world.domain)
    assert not any("GROUP BY prompt_id, model_id" in q["sql"] for q in queries)


def test_ratings_written_past_the_approval_service_are_unpacked_until_rebuilt(db):
    world = leaderboard_world(n_models=3, n_prompts=6)
    world.rate(
        prompts=world.prompts[:3],
        seed=1,
        tags_a=["correctness"],
        scores_a={"correctness": 5, "overall": 4},
        scores_b={"correctness": 2},
    )
    # Written in bulk (as the demo seed does): no totals kept, so the ratings are unpacked.
    assert not ApprovedAnswerSums.objects.exists()
    read, unpacked, unpacked_json = _both(world.domain)
    assert unpacked_json and np.array_equal(read, unpacked)
    approved_answer_sums_rebuild(domain_id=world.domain.pk)
    read, unpacked, unpacked_json = _both(world.domain)
    assert not unpacked_json and np.array_equal(read, unpacked)
    assert read[:, 3:].sum() > 0
    # More ratings past the service: the totals fall short and the ratings are read again.
    # (A tag given twice counts once per answer; a missing score is not counted.)
    assert world.rate(prompts=world.prompts[3:], seed=2, tags_b=["correctness", "correctness"])
    read, unpacked, unpacked_json = _both(world.domain)
    assert unpacked_json and np.array_equal(read, unpacked)
    approved_answer_sums_rebuild(domain_id=world.domain.pk)
    read, unpacked, unpacked_json = _both(world.domain)
    assert not unpacked_json and np.array_equal(read, unpacked)


def test_the_migration_fills_the_totals_from_the_existing_ratings(db):
    world = leaderboard_world(n_models=3, n_prompts=6)
    world.rate(seed=4, tags_a=["correctness"], scores_a={"correctness": 3}, scores_b={"overall": 5})
    migration = importlib.import_module("annotation.migrations.0007_i13speed_answer_sums")
    migration._fill(apps, None)
    read, unpacked, unpacked_json = _both(world.domain)
    assert not unpacked_json and np.array_equal(read, unpacked)
