"""`seed_demo` builds the whole demo, idempotently, through the same services staff use.

The module's tests share one seed (`seeded_demo`, tests/conftest.py), each in a transaction of
its own."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
from annotation.selectors import annotator_quality_table
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


def test_seed_demo_is_idempotent_and_fills_every_domain(seeded_demo, settings):
    settings.SEAL_GOLD_RATE = 0.0
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

    text = seeded_demo
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


def test_demo_raters_follow_the_known_strengths(seeded_demo):
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


def test_the_demo_shows_varied_work_gold_accuracy_and_rejections(seeded_demo):
    assert_demo_variety()


def assert_demo_variety() -> None:
    """Varied justifications, tags on the weaker answer, gold accuracy and approval rates that
    differ by rater, and rejections that were redone."""
    rated = Assignment.objects.filter(is_gold=False, submitted_at__isnull=False)
    justifications = list(rated.values_list("justification", flat=True))
    assert len(set(justifications)) > 0.5 * len(justifications)

    # Issue tags in every domain, and on the answer the rater liked less.
    for domain in Domain.objects.all():
        tagged = ApprovedRating.objects.filter(domain=domain).exclude(
            issue_tags_a=[], issue_tags_b=[]
        )
        assert tagged.count() > 0.2 * ApprovedRating.objects.filter(domain=domain).count()
        allowed = set(domain.parsed_rubric.issue_tag_keys)
        assert all(set(r.issue_tags_a) | set(r.issue_tags_b) <= allowed for r in tagged)
    clear_wins = ApprovedRating.objects.filter(preference=2).exclude(issue_tags_b=[])
    assert clear_wins.exists()
    assert not ApprovedRating.objects.filter(preference=2).exclude(issue_tags_a=[]).exists()

    quality = {row.username: row for row in annotator_quality_table() if row.volume}
    gold = {name: row.gold_accuracy for name, row in quality.items()}
    assert all(accuracy is not None for accuracy in gold.values()), gold
    assert len(set(gold.values())) > 2, gold
    layer1 = {name: row.layer1_approval for name, row in quality.items()}
    assert len(set(layer1.values())) > 2, layer1
    assert min(v for v in layer1.values() if v is not None) < 1.0

    # Rejected at either layer, with the reviewer's reason, and the slot rated again: every
    # comparison that had a rejection still completed with three approved ratings.
    rejected = Assignment.objects.filter(status=Assignment.Status.REJECTED)
    assert {r.layer1_decision or "approved" for r in rejected} == {"rejected", "approved"}
    assert all((r.layer1_reason or r.layer2_reason).strip() for r in rejected)
    redone = ComparisonTask.objects.filter(assignments__in=rejected).distinct()
    assert redone.exists()
    assert set(redone.values_list("status", flat=True)) == {ComparisonTask.Status.COMPLETE}
    assert all(task.approved_count == 3 for task in redone)
