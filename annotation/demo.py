"""Demo annotators and reviewers (vetted, covering every demo category) and their simulated work."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from annotation.demo_text import demo_issue_tags, demo_justification
from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
from annotation.services import (
    RatingInput,
    annotator_profile_upsert,
    annotator_vet,
    approved_answer_sums_rebuild,
    assignment_next,
    preference_outcome,
    rating_submit,
    review_approve,
    review_reject,
)
from seal.models import Domain, Lab, Prompt, Response
from seal.services import demo_user_upsert
from seal.simulation import preference_draw, win_probability

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
    *(DemoPerson(f"mathexpert{i}", "annotator", ("math",)) for i in range(1, 5)),
    *(DemoPerson(f"writer{i}", "annotator", ("instruction-following",)) for i in range(1, 5)),
    *(
        DemoPerson(f"es-{region_slug}{i}", "annotator", ("spanish",), (), ("es", "en"), (region,))
        for region, region_slug in (
            ("Spain", "spain"),
            ("Mexico", "mexico"),
            ("Latin America", "latam"),
        )
        for i in range(1, 5)
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
GOLD_PER_DOMAIN = 5
REGION_PREFIX = {"Spain": "es-spain", "Mexico": "es-mexico", "Latin America": "es-latam"}
POOL_PREFIX = {"coding": "coder", "math": "mathexpert", "instruction-following": "writer"}
# Raters 1-3 of a pool rate every comparison; number 4 takes over the slots of rejected ratings.
RATERS, STAND_IN = (1, 2, 3), 4
# The careless ways a demo rating goes wrong, each with the reason a reviewer gives for it.
FLAWS: dict[str, dict[int, list[str]]] = {
    "generic": {
        1: [
            "The justification is generic: say what in the two answers made the difference.",
            "Too vague to check. Point to the step or line that decided it.",
        ],
        2: ["The justification could describe any pair of answers; be specific."],
    },
    "untagged": {
        1: [
            "You preferred one answer but tagged no issue on the other; what was wrong with it?",
            "Missing issue tags on the weaker answer.",
        ],
        2: ["No issue tag on the answer you rated lower; tag what you saw."],
    },
    "scores": {
        1: ["Your scores contradict your preference: the answer you preferred scores lower."],
        2: [
            "Scores and preference disagree; re-check the dimension scores.",
            "The overall score favours the other answer; which do you prefer?",
        ],
    },
}
GENERIC_JUSTIFICATION = {
    "en": "Overall I think this one is better and more helpful in general.",
    "es": "En general me parece mejor y más útil que la otra respuesta.",
}


@dataclass(frozen=True)
class DemoRatingsSeed:
    tasks: int
    approved: int
    awaiting_review: int
    gold: int
    gold_answers: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class RaterHabits:
    """How one demo expert works: how often they match gold and how often review rejects them."""

    gold_skill: float
    rejection_rate: float


def _habits(username: str) -> RaterHabits:
    rng = random.Random(f"seal-demo-habits-{username}")  # noqa: S311 - demo data
    return RaterHabits(
        gold_skill=rng.choice((0.6, 0.7, 0.8, 0.8, 0.9, 1.0)),
        rejection_rate=rng.choice((0.0, 0.01, 0.03, 0.03, 0.06)),
    )


def _simulated_preference(rng: random.Random, strength_a: float, strength_b: float) -> int:
    """A rater whose choices follow the demo strengths (Bradley–Terry), with some ties, and who
    says "much better" the more often the clearer the pair is."""
    return preference_draw(rng, win_probability(strength_a - strength_b), tie_rate=TIE_PROBABILITY)


def _pool(prompt: Prompt, domain: Domain) -> str:
    regions = [c.value for c in prompt.categories.all() if c.facet == "region"]
    return REGION_PREFIX[regions[0]] if regions else POOL_PREFIX[domain.slug]


@dataclass(frozen=True)
class SimulatedRating:
    """A rating in model terms (a/b) and, for the form, in screen terms (left/right)."""

    preference: int
    scores: dict[str, dict[str, int]]
    issue_tags: dict[str, list[str]]
    justification: str

    def as_input(self, *, left_is_a: bool) -> RatingInput:
        left, right = ("a", "b") if left_is_a else ("b", "a")
        return RatingInput(
            preference=self.preference * (1 if left_is_a else -1),
            scores_left=self.scores[left],
            scores_right=self.scores[right],
            tags_left=self.issue_tags[left],
            tags_right=self.issue_tags[right],
            justification=self.justification,
        )


def _simulated_rating(
    rng: random.Random, domain: Domain, preference: int, *, left_is_a: bool, flaw: str = ""
) -> SimulatedRating:
    """Scores, tags and a justification that agree with the preference (unless `flaw` says how
    this rating goes wrong, for review to catch)."""
    rubric = domain.parsed_rubric
    base_a = 3 + (preference > 0) - (preference < 0)
    base_b = 3 - (preference > 0) + (preference < 0)
    scores = {
        "a": {k: max(1, min(5, base_a + rng.choice((-1, 0, 0, 1)))) for k in rubric.dimension_keys},
        "b": {k: max(1, min(5, base_b + rng.choice((-1, 0, 0, 1)))) for k in rubric.dimension_keys},
    }
    tags: dict[str, list[str]] = {"a": [], "b": []}
    allowed = list(rubric.issue_tag_keys)
    if preference:
        worse = "b" if preference > 0 else "a"
        tags[worse] = demo_issue_tags(
            rng=rng, domain_slug=domain.slug, allowed=allowed, strength=abs(preference)
        )
    elif rng.random() < 0.3:
        tags[rng.choice("ab")] = demo_issue_tags(
            rng=rng, domain_slug=domain.slug, allowed=allowed, strength=1
        )
    screen_preference = preference * (1 if left_is_a else -1)
    worse_screen = "b" if screen_preference > 0 else "a"
    worse_tags = tags["b" if (worse_screen == "b") == left_is_a else "a"]
    justification = demo_justification(
        rng=rng,
        domain_slug=domain.slug,
        screen_preference=screen_preference,
        worse_tags=worse_tags,
    )
    if flaw == "generic":
        justification = GENERIC_JUSTIFICATION["es" if domain.slug == "spanish" else "en"]
    elif flaw == "untagged":
        tags = {"a": [], "b": []}
    elif flaw == "scores":
        scores = {"a": scores["b"], "b": scores["a"]}
    return SimulatedRating(preference, scores, tags, justification)


@dataclass
class _Planned:
    """A rating the bulk insert leaves for review to reject, through the review services."""

    assignment: Assignment
    layer: int
    reason: str
    at: datetime


def demo_ratings_seed(*, strengths: dict[int, float]) -> DemoRatingsSeed:
    """Comparison tasks for every demo prompt, most of them rated by three simulated experts and
    approved at both layers (demo data), the rest waiting in the annotators' and reviewers' queues.

    Some ratings are rejected at layer 1 or 2 and their slots rated again by a fourth expert, and
    the experts answer gold items, all through the services a real session uses.
    Idempotent: a domain that already has comparisons is left as it is."""
    people = {p.user.get_username(): p for p in AnnotatorProfile.objects.select_related("user")}
    totals = DemoRatingsSeed(tasks=0, approved=0, awaiting_review=0, gold=0)
    for domain in Domain.objects.filter(
        slug__in=["coding", "math", "instruction-following", "spanish"]
    ):
        if ComparisonTask.objects.filter(domain=domain).exists():
            continue
        seeded = _domain_ratings_seed(domain=domain, strengths=strengths, people=people)
        totals = DemoRatingsSeed(
            tasks=totals.tasks + seeded.tasks,
            approved=totals.approved + seeded.approved,
            awaiting_review=totals.awaiting_review + seeded.awaiting_review,
            gold=totals.gold + seeded.gold,
            gold_answers=totals.gold_answers + seeded.gold_answers,
            rejected=totals.rejected + seeded.rejected,
        )
    return totals


def _domain_ratings_seed(
    *, domain: Domain, strengths: dict[int, float], people: dict[str, AnnotatorProfile]
) -> DemoRatingsSeed:
    reviewer1, reviewer2 = people["reviewer1"], people["reviewer2"]
    approved = awaiting = 0
    now = timezone.now()
    rng = random.Random(f"seal-demo-{domain.slug}")  # noqa: S311 - demo data
    prompts = list(
        Prompt.objects.filter(prompt_set__domain=domain, prompt_set__status="active")
        .prefetch_related("categories")
        .order_by("pk")
    )
    responses: dict[int, list[Response]] = {}
    for response in Response.objects.filter(prompt__in=prompts, status=Response.Status.OK).order_by(
        "model_version_id"
    ):
        responses.setdefault(response.prompt_id, []).append(response)
    planned: list[_Planned] = []
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
                        ComparisonTask(domain=domain, prompt=prompt, response_a=a, response_b=b),
                        prompt,
                    )
                )
            # Gold items: the first prompts' clearest pair, marked by "staff" from the demo
            # strengths (the stronger model's answer expected much better).
            if index < GOLD_PER_DOMAIN and len(pairs) > COMPARISONS_PER_PROMPT:
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

        assignments: list[Assignment] = []
        finals: list[tuple[Assignment, ComparisonTask]] = []
        for task, (_, prompt) in zip(created, new_tasks, strict=True):
            if task.is_gold:
                continue
            draw = rng.random()
            if draw < OPEN_SHARE:
                continue
            pool = _pool(prompt, domain)
            stage = (
                "l1"
                if draw < OPEN_SHARE + AWAITING_L1_SHARE
                else "l2"
                if draw < OPEN_SHARE + AWAITING_L1_SHARE + AWAITING_L2_SHARE
                else "final"
            )
            when = now - timedelta(days=rng.uniform(1, 30))
            finals_here = 0
            for slot, number in enumerate(RATERS, start=1):
                rater = people[f"{pool}{number}"]
                preference = _simulated_preference(
                    rng,
                    strengths[task.response_a.model_version_id],
                    strengths[task.response_b.model_version_id],
                )
                rejected_at = 0
                # At most one rejection per comparison: the pool has one stand-in to redo it.
                if (
                    stage == "final"
                    and finals_here == slot - 1
                    and rng.random() < _habits(f"{pool}{number}").rejection_rate
                ):
                    rejected_at = 1 if rng.random() < 0.7 else 2
                flaw = rng.choice(sorted(FLAWS)) if rejected_at else ""
                if flaw in ("untagged", "scores") and preference == 0:
                    flaw = "generic"  # a tie has no weaker answer to tag or to score lower
                left_is_a = rng.random() < 0.5
                rating = _simulated_rating(rng, domain, preference, left_is_a=left_is_a, flaw=flaw)
                leased = when + timedelta(minutes=slot * 7)
                submitted = leased + timedelta(seconds=rng.uniform(120, 900))
                assignment = Assignment(
                    task=task,
                    annotator=rater,
                    slot=slot,
                    left_is_a=left_is_a,
                    leased_at=leased,
                    lease_expires_at=leased + timedelta(minutes=30),
                    preference=preference,
                    scores=rating.scores,
                    issue_tags=rating.issue_tags,
                    justification=rating.justification,
                    submitted_at=submitted,
                    status=Assignment.Status.SUBMITTED,
                )
                if stage in ("l2", "final") and rejected_at != 1:
                    assignment.status = Assignment.Status.LAYER1_APPROVED
                    assignment.layer1_reviewer = reviewer1
                    assignment.layer1_decision = Assignment.Decision.APPROVED
                    assignment.layer1_at = submitted + timedelta(hours=2)
                if rejected_at:
                    reason = rng.choice(FLAWS[flaw][rejected_at])
                    at = submitted + timedelta(hours=2 if rejected_at == 1 else 5)
                    planned.append(_Planned(assignment, rejected_at, reason, at))
                elif stage == "final":
                    assignment.status = Assignment.Status.APPROVED
                    assignment.layer2_reviewer = reviewer2
                    assignment.layer2_decision = Assignment.Decision.APPROVED
                    assignment.layer2_at = submitted + timedelta(hours=5)
                    assignment.approved_at = assignment.layer2_at
                    finals.append((assignment, task))
                    finals_here += 1
                else:
                    awaiting += 1
                assignments.append(assignment)
            task.active_slots = len(RATERS)
            task.approved_count = finals_here
            if finals_here == len(RATERS):
                task.status = ComparisonTask.Status.COMPLETE
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
                issue_tags_a=assignment.issue_tags["a"],
                issue_tags_b=assignment.issue_tags["b"],
                scores_a=assignment.scores.get("a", {}),
                scores_b=assignment.scores.get("b", {}),
                approved_at=assignment.approved_at or now,
            )
            for assignment, task in finals
        )
        # The copies were written in bulk, past the approval service: count their totals.
        approved_answer_sums_rebuild(domain_id=domain.pk)
        approved += len(finals)

    gold_tasks = [task for task in created if task.is_gold]
    gold_answers = _gold_answers_seed(
        domain=domain, gold_tasks=gold_tasks, people=people, rng=rng, now=now
    )
    approved += _rejections_seed(domain=domain, planned=planned, people=people, strengths=strengths)
    return DemoRatingsSeed(
        tasks=len(created),
        approved=approved,
        awaiting_review=awaiting,
        gold=len(gold_tasks),
        gold_answers=gold_answers,
        rejected=len(planned),
    )


def _pool_members(domain: Domain, people: dict[str, AnnotatorProfile]) -> list[str]:
    prefixes = (
        list(REGION_PREFIX.values()) if domain.slug == "spanish" else [POOL_PREFIX[domain.slug]]
    )
    return [f"{prefix}{n}" for prefix in prefixes for n in (*RATERS, STAND_IN)]


def _gold_answers_seed(
    *,
    domain: Domain,
    gold_tasks: list[ComparisonTask],
    people: dict[str, AnnotatorProfile],
    rng: random.Random,
    now: datetime,
) -> int:
    """Each expert of the domain answers some of its gold items through rating_submit (which
    marks them right or wrong); the stand-ins answer all, so their next item is real work."""
    answered = 0
    for username in _pool_members(domain, people):
        profile = people[username]
        skill = _habits(username).gold_skill
        mine = (
            gold_tasks
            if username.endswith(str(STAND_IN))
            else [task for task in gold_tasks if rng.random() < 0.7]
        )
        for task in mine:
            leased = now - timedelta(days=rng.uniform(1, 30))
            left_is_a = rng.random() < 0.5
            # Handed out as the service hands out gold (annotation.services._gold_next).
            assignment = Assignment.objects.create(
                task=task,
                annotator=profile,
                slot=None,
                is_gold=True,
                left_is_a=left_is_a,
                leased_at=leased,
                lease_expires_at=leased + timedelta(minutes=30),
            )
            expected = task.gold_expected_preference or 0
            if rng.random() < skill:
                preference = expected if rng.random() < 0.6 else expected // 2
            else:
                preference = rng.choice((0, -expected // 2))
            rating = _simulated_rating(rng, domain, preference, left_is_a=left_is_a)
            rating_submit(
                assignment_id=assignment.pk,
                profile=profile,
                rating=rating.as_input(left_is_a=left_is_a),
                now=leased + timedelta(seconds=rng.uniform(120, 900)),
            )
            answered += 1
    return answered


def _rejections_seed(
    *,
    domain: Domain,
    planned: list[_Planned],
    people: dict[str, AnnotatorProfile],
    strengths: dict[int, float],
) -> int:
    """Reject the planned ratings at their layer, and have the pool's stand-in rate each freed
    slot, approved at both layers: the same calls the review and rating pages make."""
    reviewer1, reviewer2 = people["reviewer1"], people["reviewer2"]
    approved = 0
    for number, item in enumerate(planned):
        # Its own generator: the service draws the screen order, which the text then follows,
        # and that must not shift the draws of the ratings after it.
        rng = random.Random(f"seal-demo-{domain.slug}-redo-{number}")  # noqa: S311 - demo data
        reviewer = reviewer1 if item.layer == 1 else reviewer2
        review_reject(
            assignment_id=item.assignment.pk,
            reviewer=reviewer,
            layer=item.layer,
            reason=item.reason,
            now=item.at,
        )
        prompt = item.assignment.task.prompt
        stand_in = people[f"{_pool(prompt, domain)}{STAND_IN}"]
        leased_at = item.at + timedelta(minutes=rng.uniform(20, 120))
        # The freed slot is the stand-in's first choice: it is the only comparison with two
        # live ratings that they have not held.
        replacement = assignment_next(profile=stand_in, now=leased_at)
        if replacement is None:
            continue
        task = replacement.task
        preference = _simulated_preference(
            rng,
            strengths[task.response_a.model_version_id],
            strengths[task.response_b.model_version_id],
        )
        rating = _simulated_rating(rng, domain, preference, left_is_a=replacement.left_is_a)
        submitted = leased_at + timedelta(seconds=rng.uniform(120, 900))
        rating_submit(
            assignment_id=replacement.pk,
            profile=stand_in,
            rating=rating.as_input(left_is_a=replacement.left_is_a),
            now=submitted,
        )
        review_approve(
            assignment_id=replacement.pk,
            reviewer=reviewer1,
            layer=1,
            now=submitted + timedelta(hours=1),
        )
        review_approve(
            assignment_id=replacement.pk,
            reviewer=reviewer2,
            layer=2,
            now=submitted + timedelta(hours=3),
        )
        approved += 1
    return approved
