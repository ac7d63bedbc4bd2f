"""A small evaluation world for annotation tests: one domain, two labs, answered prompts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from annotation.models import AnnotatorProfile, ComparisonTask
from annotation.services import RatingInput, comparison_task_create
from seal.models import Domain, ModelVersion, Prompt
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


@pytest.fixture
def world(db) -> World:
    return build_world()


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
