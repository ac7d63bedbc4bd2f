"""`seed_demo` builds the whole demo, idempotently, through the same services staff use."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
from annotation.services import assignment_next
from seal.models import Category, Domain, ModelVersion, Prompt, PromptExposure, PromptSet, Response

pytestmark = pytest.mark.django_db


def table_counts() -> dict[str, int]:
    models = [
        Domain,
        Category,
        PromptSet,
        Prompt,
        ModelVersion,
        Response,
        PromptExposure,
        AnnotatorProfile,
        ComparisonTask,
        Assignment,
        ApprovedRating,
    ]
    return {model.__name__: model._default_manager.count() for model in models}


def test_seed_demo_is_idempotent_and_fills_every_domain(settings):
    settings.SEAL_GOLD_RATE = 0.0
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = table_counts()
    call_command("seed_demo", stdout=StringIO())
    assert table_counts() == first

    assert set(Domain.objects.values_list("slug", flat=True)) == {
        "coding",
        "math",
        "instruction-following",
        "spanish",
    }
    per_domain = dict(
        Prompt.objects.values_list("prompt_set__domain__slug").annotate(n=Count("pk"))
    )
    assert all(count >= 40 for count in per_domain.values()), per_domain
    assert not Prompt.objects.filter(prompt_set__domain__slug="math", gold_answer="").exists()
    assert Prompt.objects.filter(is_public_sample=True).exists()
    assert ModelVersion.objects.values("lab").distinct().count() == 3
    assert first["Response"] == first["Prompt"] * first["ModelVersion"]
    assert first["ApprovedRating"] > 2000

    text = out.getvalue()
    assert "seal-demo-2026" in text
    for login in (
        "admin",
        "coder1",
        "mathexpert1",
        "writer1",
        "es-spain1",
        "reviewer1",
        "reviewer2",
    ):
        assert login in text

    # Every demo annotator has work waiting, and the reviewers have queues.
    for username in ("coder1", "mathexpert1", "writer1", "es-mexico2"):
        profile = AnnotatorProfile.objects.get(user__username=username)
        assert assignment_next(profile=profile) is not None, username
    assert Assignment.objects.filter(status=Assignment.Status.SUBMITTED).exists()
    assert Assignment.objects.filter(status=Assignment.Status.LAYER1_APPROVED).exists()


def test_demo_raters_follow_the_known_strengths():
    call_command("seed_demo", stdout=StringIO())
    strongest = ModelVersion.objects.get(model_id="atlas-2.0")
    weakest = ModelVersion.objects.get(model_id="quill-6")
    head_to_head = ApprovedRating.objects.filter(
        model_a__in=[strongest, weakest], model_b__in=[strongest, weakest]
    )
    wins_strong = sum(
        r.outcome if r.model_a_id == strongest.pk else 1 - r.outcome for r in head_to_head
    )
    assert head_to_head.count() >= 20
    assert wins_strong / head_to_head.count() > 0.6
