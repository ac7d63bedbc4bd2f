"""Test worlds, built from the factories (tests/factories.py): the catalog, annotation and
leaderboard worlds the tests and the benches start from. conftest.py files hold fixtures only;
the fixtures call these.

* `domain_with_prompts`, `model_on`, `api_client`: a domain with an active prompt set, a model
  version served by a fake endpoint, a lab API client (tests/seal).
* `build_world` / `World`, `good_rating`: one domain, two labs' models, answered prompts and open
  comparison tasks, and a complete rating of them (tests/annotation).
* `leaderboard_world` / `LeaderboardWorld`: a domain with categories, models, answered prompts
  and approved ratings written in bulk the way the demo seed does (tasks, approved assignments and
  the ApprovedRating copy), so a test can build hundreds in milliseconds; the raters follow the
  models' strengths through the project's rater simulator (seal/simulation.py). The workflow
  itself is exercised in tests/annotation and in the integration test (tests/leaderboards).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
from annotation.services import RatingInput, comparison_task_create, preference_outcome
from seal.models import Category, Domain, Lab, ModelVersion, Prompt, PromptSet, Response
from seal.prompt_import import content_hash
from seal.simulation import preference_draw, win_probability
from seal.tasking import TaskSend
from tests.factories import (
    AnnotatorProfileFactory,
    DomainFactory,
    LabFactory,
    ModelVersionFactory,
    PromptFactory,
    PromptSetFactory,
    ResponseFactory,
    UserFactory,
)
from tests.fake_endpoint import FakeEndpoint

# --- the catalog (tests/seal) -------------------------------------------------------------------


@dataclass
class LabClient:
    """A lab, one of its API keys and a client that sends it."""

    lab: Lab
    raw_key: str
    client: APIClient


def api_client(raw_key: str | None = None) -> APIClient:
    """A lab API client, with the key if one is given."""
    client = APIClient()
    if raw_key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def domain_with_prompts(
    count: int, *, slug: str | None = None, text: str = "Private prompt {i}: solve it."
) -> tuple[Domain, PromptSet]:
    """A domain whose active prompt set holds `count` prompts."""
    domain = DomainFactory.create(**({"slug": slug} if slug else {}))
    prompt_set = PromptSetFactory.create(domain=domain, status=PromptSet.Status.ACTIVE)
    texts = [text.format(i=i) + f" [{domain.slug}]" for i in range(count)]
    Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, text=t, content_hash=content_hash(t), external_id=f"p{i}")
        for i, t in enumerate(texts)
    )
    return domain, prompt_set


def model_on(endpoint: FakeEndpoint, model_id: str, **kwargs) -> ModelVersion:
    """A model version whose endpoint is the fake chat-completions server."""
    return ModelVersionFactory.create(base_url=endpoint.base_url, model_id=model_id, **kwargs)


# --- annotation (tests/annotation) ---------------------------------------------------------------

MODEL_NAMES = ("Zephyrion-Ultra", "Quasarix-Pro")
LAB_NAMES = ("Lab Orchid", "Lab Basalt")


@dataclass
class World:
    domain: Domain
    models: list[ModelVersion]
    prompts: list[Prompt]
    tasks: list[ComparisonTask]

    def annotator(self, name: str, **fields: object) -> AnnotatorProfile:
        profile = AnnotatorProfileFactory.create(user=UserFactory.create(username=name), **fields)
        profile.domains.add(self.domain)
        return profile

    def reviewer(self, name: str, layer: int) -> AnnotatorProfile:
        return self.annotator(name, is_layer1_reviewer=layer == 1, is_layer2_reviewer=layer == 2)


def build_world(task_count: int = 3, answer_text: str = "Answer {i} from model {m}") -> World:
    """A coding domain, one model of each of two labs, and `task_count` answered prompts with an
    open comparison task each."""
    domain = DomainFactory.create(slug="coding", name="Coding")
    prompt_set = PromptSetFactory.create(domain=domain)
    models = [
        ModelVersionFactory.create(lab=LabFactory.create(name=lab), name=name)
        for name, lab in zip(MODEL_NAMES, LAB_NAMES, strict=True)
    ]
    prompts, tasks = [], []
    for i in range(task_count):
        prompt = PromptFactory.create(
            prompt_set=prompt_set, text=f"Private prompt {i}: sort a list"
        )
        responses = [
            ResponseFactory.create(
                model_version=m, prompt=prompt, text=answer_text.format(i=i, m=n)
            )
            for n, m in enumerate(models)
        ]
        prompts.append(prompt)
        tasks.append(comparison_task_create(response_1=responses[0], response_2=responses[1]))
    return World(domain=domain, models=models, prompts=prompts, tasks=tasks)


def good_rating(preference: int = 1) -> RatingInput:
    """A complete rating for the default rubric (screen terms)."""
    return RatingInput(
        preference=preference,
        scores_left={"correctness": 4, "overall": 4},
        scores_right={"correctness": 2, "overall": 2},
        tags_left=[],
        tags_right=["correctness"],
        justification="Left handles the empty list; right crashes on it.",
    )


# --- leaderboards (tests/leaderboards) -----------------------------------------------------------

PRIVATE_MARKER = "PRIVATE-PROMPT-7f3a9c"
SAMPLE_MARKER = "PUBLIC-SAMPLE-41b2"


@dataclass
class LeaderboardWorld:
    domain: Domain
    prompt_set: PromptSet
    categories: dict[str, Category]
    models: list[ModelVersion]
    prompts: list[Prompt]
    raters: list[AnnotatorProfile]
    strengths: dict[int, float]
    responses: dict[tuple[int, int], Response] = field(default_factory=dict)

    def prompts_in(self, slug: str) -> list[Prompt]:
        category = self.categories[slug]
        return [p for p in self.prompts if category in p.categories.all()]

    def rate(
        self,
        *,
        prompts: list[Prompt] | None = None,
        pairs: list[tuple[ModelVersion, ModelVersion]] | None = None,
        seed: int = 0,
        tags_a: list[str] | None = None,
        tags_b: list[str] | None = None,
        scores_a: dict[str, int] | None = None,
        scores_b: dict[str, int] | None = None,
    ) -> int:
        """Three approved ratings per (prompt, pair), following the models' strengths."""
        # One transaction, as a final approval writes the rating and its copy together.
        with transaction.atomic():
            return self._rate(
                prompts=prompts,
                pairs=pairs,
                seed=seed,
                tags_a=tags_a,
                tags_b=tags_b,
                scores_a=scores_a,
                scores_b=scores_b,
            )

    def _rate(
        self,
        *,
        prompts: list[Prompt] | None,
        pairs: list[tuple[ModelVersion, ModelVersion]] | None,
        seed: int,
        tags_a: list[str] | None,
        tags_b: list[str] | None,
        scores_a: dict[str, int] | None = None,
        scores_b: dict[str, int] | None = None,
    ) -> int:
        rng = random.Random(seed)
        now = timezone.now()
        pairs = pairs or list(itertools.combinations(self.models, 2))
        count = 0
        for prompt in prompts or self.prompts:
            for first, second in pairs:
                a = self.responses[(first.pk, prompt.pk)]
                b = self.responses[(second.pk, prompt.pk)]
                if a.pk > b.pk:
                    a, b = b, a
                task, _ = ComparisonTask.objects.get_or_create(
                    domain=self.domain,
                    prompt=prompt,
                    response_a=a,
                    response_b=b,
                    defaults={"status": ComparisonTask.Status.COMPLETE, "approved_count": 3},
                )
                if Assignment.objects.filter(task=task).exists():
                    continue
                p_a = win_probability(
                    self.strengths[a.model_version_id] - self.strengths[b.model_version_id]
                )
                assignments = []
                for slot, rater in enumerate(self.raters, start=1):
                    preference = preference_draw(rng, p_a, tie_rate=0.1, strong_rate=0.5)
                    assignments.append(
                        Assignment(
                            task=task,
                            annotator=rater,
                            slot=slot,
                            left_is_a=True,
                            leased_at=now - timedelta(hours=1),
                            lease_expires_at=now,
                            preference=preference,
                            issue_tags={"a": tags_a or [], "b": tags_b or []},
                            scores={"a": scores_a or {}, "b": scores_b or {}},
                            submitted_at=now - timedelta(minutes=30),
                            status=Assignment.Status.APPROVED,
                            layer1_decision=Assignment.Decision.APPROVED,
                            layer2_decision=Assignment.Decision.APPROVED,
                            approved_at=now,
                        )
                    )
                Assignment.objects.bulk_create(assignments)
                ApprovedRating.objects.bulk_create(
                    ApprovedRating(
                        assignment=assignment,
                        task=task,
                        domain=self.domain,
                        prompt=prompt,
                        model_a_id=a.model_version_id,
                        model_b_id=b.model_version_id,
                        annotator=assignment.annotator,
                        preference=assignment.preference or 0,
                        outcome=preference_outcome(assignment.preference or 0),
                        issue_tags_a=tags_a or [],
                        issue_tags_b=tags_b or [],
                        scores_a=scores_a or {},
                        scores_b=scores_b or {},
                        approved_at=now,
                    )
                    for assignment in assignments
                )
                count += len(assignments)
        return count


def leaderboard_world(
    *,
    slug: str = "coding",
    n_models: int = 3,
    n_prompts: int = 12,
    categories: dict[str, list[str]] | None = None,
    numeric: bool = False,
    answers: dict[int, str] | None = None,
) -> LeaderboardWorld:
    """A domain whose prompts are spread round-robin over the given category values."""
    domain = DomainFactory.create(
        slug=slug,
        name=slug.replace("-", " ").title(),
        answer_grading=Domain.AnswerGrading.NUMERIC if numeric else Domain.AnswerGrading.NONE,
    )
    prompt_set = PromptSetFactory.create(domain=domain)
    made: dict[str, Category] = {}
    for facet, names in (categories or {"language": ["Python", "SQL"]}).items():
        for name in names:
            made[name.lower()] = Category.objects.create(
                domain=domain, facet=facet, value=name, slug=name.lower()
            )
    values = list(made.values())
    prompts = []
    for i in range(n_prompts):
        text = f"{PRIVATE_MARKER} prompt {i} of {slug}: solve it."
        prompt = Prompt.objects.create(
            prompt_set=prompt_set,
            text=text,
            content_hash=content_hash(text),
            external_id=f"{slug}-{i}",
            gold_answer=str(10 + i) if numeric else "",
        )
        if values:
            prompt.categories.add(values[i % len(values)])
        prompts.append(prompt)
    models = [
        ModelVersionFactory.create(lab=LabFactory.create(name=f"Lab {slug} {k}"), name=f"M{k}")
        for k in range(n_models)
    ]
    world = LeaderboardWorld(
        domain=domain,
        prompt_set=prompt_set,
        categories=made,
        models=models,
        prompts=prompts,
        raters=[AnnotatorProfileFactory.create() for _ in range(3)],
        strengths={m.pk: 1.0 - 0.8 * k for k, m in enumerate(models)},
    )
    for k, model in enumerate(models):
        for prompt in prompts:
            text = (
                (answers or {})
                .get(k, "An answer. Final answer: {gold}")
                .format(gold=prompt.gold_answer or "0", i=prompt.pk)
            )
            world.responses[(model.pk, prompt.pk)] = Response.objects.create(
                model_version=model, prompt=prompt, status=Response.Status.OK, text=text
            )
    return world


def messages_sent(callbacks: list) -> int:
    """How many of the captured on-commit callbacks send a Celery task."""
    return sum(isinstance(callback, TaskSend) for callback in callbacks)
