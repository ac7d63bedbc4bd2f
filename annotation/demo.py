"""Demo annotators and reviewers (vetted, covering every demo category) and their simulated work."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
from annotation.services import annotator_profile_upsert, annotator_vet, preference_outcome
from seal.demo import DEMO_MARK
from seal.models import Domain, Lab, Prompt, Response
from seal.services import demo_user_upsert

DEMO_PASSWORD = "seal-demo-2026"  # noqa: S105 - printed for the demo; seed_demo refuses production
ALL_CODE = ["Python", "SQL", "Java", "JavaScript", "HTML/CSS", "C++", "Go", "Rust"]


@dataclass(frozen=True)
class DemoPerson:
    username: str
    role: str
    domains: tuple[str, ...]
    programming_languages: tuple[str, ...] = ()
    spoken_languages: tuple[str, ...] = ("en",)
    regional_varieties: tuple[str, ...] = ()
    affiliated_lab: str = ""
    layer1: bool = False
    layer2: bool = False


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    *(DemoPerson(f"coder{i}", "annotator", ("coding",), tuple(ALL_CODE)) for i in range(1, 5)),
    DemoPerson(
        "coder5", "annotator", ("coding",), ("Python", "JavaScript"), affiliated_lab="northwind"
    ),
    *(DemoPerson(f"mathexpert{i}", "annotator", ("math",)) for i in range(1, 4)),
    *(DemoPerson(f"writer{i}", "annotator", ("instruction-following",)) for i in range(1, 4)),
    *(
        DemoPerson(f"es-{region_slug}{i}", "annotator", ("spanish",), (), ("es", "en"), (region,))
        for region, region_slug in (
            ("Spain", "spain"),
            ("Mexico", "mexico"),
            ("Latin America", "latam"),
        )
        for i in range(1, 4)
    ),
    DemoPerson(
        "reviewer1",
        "reviewer (layer 1)",
        ("coding", "math", "instruction-following", "spanish"),
        tuple(ALL_CODE),
        ("en", "es"),
        ("Spain", "Mexico", "Latin America"),
        layer1=True,
    ),
    DemoPerson(
        "reviewer2",
        "reviewer (layer 2, final)",
        ("coding", "math", "instruction-following", "spanish"),
        tuple(ALL_CODE),
        ("en", "es"),
        ("Spain", "Mexico", "Latin America"),
        layer2=True,
    ),
)


def demo_people_seed() -> list[tuple[DemoPerson, AnnotatorProfile]]:
    """Create the demo annotators and reviewers as vetted experts (idempotent)."""
    domains = {d.slug: d for d in Domain.objects.all()}
    labs = {lab.slug: lab for lab in Lab.objects.all()}
    seeded = []
    # One slow hash for every demo account keeps the seed quick; these logins are demo-only.
    password_hash = make_password(DEMO_PASSWORD)
    for person in DEMO_PEOPLE:
        user = demo_user_upsert(username=person.username, password_hash=password_hash)
        profile = annotator_profile_upsert(
            user=user,
            domains=[domains[slug] for slug in person.domains],
            programming_languages=person.programming_languages,
            spoken_languages=person.spoken_languages,
            regional_varieties=person.regional_varieties,
            affiliated_labs=[labs[person.affiliated_lab]] if person.affiliated_lab else [],
            is_layer1_reviewer=person.layer1,
            is_layer2_reviewer=person.layer2,
        )
        if not profile.is_vetted:
            annotator_vet(profile=profile, score=0.9)
        seeded.append((person, profile))
    return seeded


# --- comparisons and simulated ratings ----------------------------------------------------------

COMPARISONS_PER_PROMPT = 6
# Share of demo comparisons left for people to do: unrated, awaiting layer 1, awaiting layer 2.
OPEN_SHARE, AWAITING_L1_SHARE, AWAITING_L2_SHARE = 0.12, 0.05, 0.05
TIE_PROBABILITY = 0.15
SIMULATED_JUSTIFICATION = f"{DEMO_MARK.capitalize()}: a simulated rater following known strengths."
REGION_PREFIX = {"Spain": "es-spain", "Mexico": "es-mexico", "Latin America": "es-latam"}


@dataclass(frozen=True)
class DemoRatingsSeed:
    tasks: int
    approved: int
    awaiting_review: int
    gold: int


def _simulated_preference(rng: random.Random, strength_a: float, strength_b: float) -> int:
    """A rater whose choices follow the demo strengths (Bradley–Terry), with some ties."""
    if rng.random() < TIE_PROBABILITY:
        return 0
    p_a = 1.0 / (1.0 + math.exp(-(strength_a - strength_b)))
    a_wins = rng.random() < p_a
    much = rng.random() < abs(p_a - 0.5) * 1.6
    return (2 if much else 1) * (1 if a_wins else -1)


def _raters_for(
    prompt: Prompt, domain: Domain, people: dict[str, AnnotatorProfile]
) -> list[AnnotatorProfile]:
    regions = [c.value for c in prompt.categories.all() if c.facet == "region"]
    if regions:
        prefix = REGION_PREFIX[regions[0]]
        return [people[f"{prefix}{i}"] for i in range(1, 4)]
    prefix = {"coding": "coder", "math": "mathexpert", "instruction-following": "writer"}[
        domain.slug
    ]
    return [people[f"{prefix}{i}"] for i in range(1, 4)]


def demo_ratings_seed(*, strengths: dict[int, float]) -> DemoRatingsSeed:
    """Comparison tasks for every demo prompt, most of them rated by three simulated experts and
    approved at both layers (demo data), the rest waiting in the annotators' and reviewers' queues.
    Idempotent: a domain that already has comparisons is left as it is."""
    people = {p.user.get_username(): p for p in AnnotatorProfile.objects.select_related("user")}
    reviewer1, reviewer2 = people["reviewer1"], people["reviewer2"]
    tasks_made = approved = awaiting = gold_made = 0
    now = timezone.now()
    for domain in Domain.objects.filter(
        slug__in=["coding", "math", "instruction-following", "spanish"]
    ):
        if ComparisonTask.objects.filter(domain=domain).exists():
            continue
        rng = random.Random(f"seal-demo-{domain.slug}")  # noqa: S311 - demo data
        prompts = list(
            Prompt.objects.filter(prompt_set__domain=domain, prompt_set__status="active")
            .prefetch_related("categories")
            .order_by("pk")
        )
        responses: dict[int, list[Response]] = {}
        for response in Response.objects.filter(
            prompt__in=prompts, status=Response.Status.OK
        ).order_by("model_version_id"):
            responses.setdefault(response.prompt_id, []).append(response)
        with transaction.atomic():
            new_tasks: list[tuple[ComparisonTask, Prompt]] = []
            for index, prompt in enumerate(prompts):
                answers = responses.get(prompt.pk, [])
                pairs = list(itertools.combinations(answers, 2))
                rng.shuffle(pairs)
                for first, second in pairs[:COMPARISONS_PER_PROMPT]:
                    a, b = (first, second) if first.pk < second.pk else (second, first)
                    new_tasks.append(
                        (
                            ComparisonTask(
                                domain=domain, prompt=prompt, response_a=a, response_b=b
                            ),
                            prompt,
                        )
                    )
                # Gold items: the first prompts' clearest pair, marked by "staff" from the demo
                # strengths (the stronger model's answer expected much better).
                if index < 5 and len(pairs) > COMPARISONS_PER_PROMPT:
                    g1, g2 = pairs[COMPARISONS_PER_PROMPT]
                    a, b = (g1, g2) if g1.pk < g2.pk else (g2, g1)
                    expected = (
                        2 if strengths[a.model_version_id] >= strengths[b.model_version_id] else -2
                    )
                    new_tasks.append(
                        (
                            ComparisonTask(
                                domain=domain,
                                prompt=prompt,
                                response_a=a,
                                response_b=b,
                                is_gold=True,
                                gold_expected_preference=expected,
                            ),
                            prompt,
                        )
                    )
            created = ComparisonTask.objects.bulk_create([task for task, _ in new_tasks])
            tasks_made += len(created)
            gold_made += sum(task.is_gold for task in created)

            assignments: list[Assignment] = []
            finals: list[tuple[Assignment, ComparisonTask]] = []
            for task, (_, prompt) in zip(created, new_tasks, strict=True):
                if task.is_gold:
                    continue
                draw = rng.random()
                if draw < OPEN_SHARE:
                    continue
                raters = _raters_for(prompt, domain, people)
                stage = (
                    "l1"
                    if draw < OPEN_SHARE + AWAITING_L1_SHARE
                    else "l2"
                    if draw < OPEN_SHARE + AWAITING_L1_SHARE + AWAITING_L2_SHARE
                    else "final"
                )
                when = now - timedelta(days=rng.uniform(0.5, 30))
                for slot, rater in enumerate(raters, start=1):
                    preference = _simulated_preference(
                        rng,
                        strengths[task.response_a.model_version_id],
                        strengths[task.response_b.model_version_id],
                    )
                    leased = when + timedelta(minutes=slot * 7)
                    submitted = leased + timedelta(seconds=rng.uniform(120, 900))
                    dims = domain.parsed_rubric.dimension_keys
                    base_a = 3 + (preference > 0) - (preference < 0)
                    base_b = 3 - (preference > 0) + (preference < 0)
                    assignment = Assignment(
                        task=task,
                        annotator=rater,
                        slot=slot,
                        left_is_a=rng.random() < 0.5,
                        leased_at=leased,
                        lease_expires_at=leased + timedelta(minutes=30),
                        preference=preference,
                        scores={
                            "a": {
                                key: max(1, min(5, base_a + rng.choice((-1, 0, 0, 1))))
                                for key in dims
                            },
                            "b": {
                                key: max(1, min(5, base_b + rng.choice((-1, 0, 0, 1))))
                                for key in dims
                            },
                        },
                        issue_tags={"a": [], "b": []},
                        justification=SIMULATED_JUSTIFICATION,
                        submitted_at=submitted,
                        status=Assignment.Status.SUBMITTED,
                    )
                    if stage in ("l2", "final"):
                        assignment.status = Assignment.Status.LAYER1_APPROVED
                        assignment.layer1_reviewer = reviewer1
                        assignment.layer1_decision = Assignment.Decision.APPROVED
                        assignment.layer1_at = submitted + timedelta(hours=2)
                    if stage == "final":
                        assignment.status = Assignment.Status.APPROVED
                        assignment.layer2_reviewer = reviewer2
                        assignment.layer2_decision = Assignment.Decision.APPROVED
                        assignment.layer2_at = submitted + timedelta(hours=5)
                        assignment.approved_at = assignment.layer2_at
                        finals.append((assignment, task))
                    else:
                        awaiting += 1
                    assignments.append(assignment)
                task.active_slots = len(raters)
                task.approved_count = len(raters) if stage == "final" else 0
                task.status = ComparisonTask.Status.COMPLETE if stage == "final" else task.status
            Assignment.objects.bulk_create(assignments)
            ComparisonTask.objects.bulk_update(
                [task for task in created if task.active_slots],
                ["active_slots", "approved_count", "status"],
            )
            ApprovedRating.objects.bulk_create(
                ApprovedRating(
                    assignment=assignment,
                    task=task,
                    domain=domain,
                    prompt_id=task.prompt_id,
                    model_a_id=task.response_a.model_version_id,
                    model_b_id=task.response_b.model_version_id,
                    annotator=assignment.annotator,
                    preference=assignment.preference or 0,
                    outcome=preference_outcome(assignment.preference or 0),
                    issue_tags_a=[],
                    issue_tags_b=[],
                    approved_at=assignment.approved_at or now,
                )
                for assignment, task in finals
            )
            approved += len(finals)
    return DemoRatingsSeed(
        tasks=tasks_made, approved=approved, awaiting_review=awaiting, gold=gold_made
    )
