"""Demo data for the catalog: domains, prompt sets, labs, model versions and their responses.

Everything here is idempotent (run it twice, get the same database) and goes through the same
services staff and workers use. The demo answers come from seal/demo_data: each prompt has a strong
and a flawed reference answer, and a model version gives the strong one with a probability that
follows its demo strength, so the simulated leaderboards have a known truth.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from seal.models import (
    Domain,
    Lab,
    ModelVersion,
    Prompt,
    PromptExposure,
    PromptSet,
    Response,
    Submission,
)
from seal.rendering import answers_render
from seal.services import (
    answer_render_limits,
    domain_upsert,
    lab_create,
    model_version_create,
    prompt_set_import,
    response_styles_backfill,
)
from seal.simulation import win_probability

DEMO_DIR = Path(__file__).resolve().parent / "demo_data"
DEMO_MARK = "demo data"

# Openings and closings that make two models' copies of the same reference answer read differently.
STYLE_OPENINGS = {
    "en": ["", "Here is a careful answer.\n\n", "Sure. ", "Let's work through it.\n\n"],
    "es": ["", "Claro. ", "Aquí tienes una respuesta.\n\n", "Vamos por partes.\n\n"],
}
STYLE_CLOSINGS = {
    "en": ["", "", "\n\nLet me know if you want me to go further.", "\n\nHope this helps."],
    "es": ["", "", "\n\n¿Quieres que profundice en algún punto?", "\n\nEspero que te sirva."],
}


@dataclass(frozen=True)
class DemoModel:
    model_version: ModelVersion
    strength: float


@dataclass(frozen=True)
class CatalogSeed:
    domains: list[Domain]
    models: list[DemoModel]
    prompt_set_version: str


def _load_json(name: str) -> Any:
    return json.loads((DEMO_DIR / name).read_text(encoding="utf-8"))


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _stable_rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - demo data, not security


def demo_domains_seed(*, version: str) -> list[Domain]:
    """The four domains with rubrics, categories and an active demo prompt set each."""
    spec = _load_json("domains.json")
    domains = []
    for item in spec["domains"]:
        domain = domain_upsert(
            slug=item["slug"],
            name=item["name"],
            description=item["description"],
            rubric=item["rubric"],
            answer_grading=item["answer_grading"],
            categories=[
                (facet, value) for facet, values in item["categories"].items() for value in values
            ],
        )
        if not PromptSet.objects.filter(domain=domain, version=version).exists():
            with (DEMO_DIR / "prompts" / item["prompts_file"]).open("rb") as handle:
                prompt_set_import(
                    domain=domain,
                    version=version,
                    lines=handle,
                    description=f"SEAL {DEMO_MARK}: prompts written for the demo.",
                    activate=True,
                )
        domains.append(domain)
    return domains


def demo_labs_seed() -> list[DemoModel]:
    """Three demo labs and their model versions, with the strengths the demo raters follow."""
    models = []
    for lab_spec in _load_json("labs.json")["labs"]:
        lab = Lab.objects.filter(slug=lab_spec["slug"]).first() or lab_create(
            name=lab_spec["name"], slug=lab_spec["slug"], contact_email=lab_spec["contact_email"]
        )
        for spec in lab_spec["models"]:
            model_version = ModelVersion.objects.filter(
                lab=lab, name=spec["name"], version=spec["version"]
            ).first() or model_version_create(
                lab=lab,
                name=spec["name"],
                version=spec["version"],
                base_url=f"https://api.{lab.slug}.example/v1",
                model_id=spec["model_id"],
                generation_params={"temperature": 0.2, "max_tokens": 1024},
                api_secret=f"demo-secret-{lab.slug}",
            )
            models.append(DemoModel(model_version, float(spec["strength"])))
    return models


def _demo_answer(
    *, answers: dict[str, str], model: DemoModel, prompt: Prompt, language: str
) -> str:
    rng = _stable_rng("answer", model.model_version.pk, prompt.content_hash)
    p_good = win_probability(model.strength + 0.3)
    body = answers["good"] if rng.random() < p_good else answers["flawed"]
    style = model.model_version.pk % len(STYLE_OPENINGS[language])
    return f"{STYLE_OPENINGS[language][style]}{body}{STYLE_CLOSINGS[language][style]}"


def demo_responses_seed(*, domains: list[Domain], models: list[DemoModel], version: str) -> int:
    """Every demo model's answer to every demo prompt, its exposure, and a submission per model."""
    spec_by_slug = {item["slug"]: item for item in _load_json("domains.json")["domains"]}
    created = 0
    now = timezone.now()
    with transaction.atomic():
        for model in models:
            submission = Submission.objects.filter(
                model_version=model.model_version, status_detail=DEMO_MARK
            ).first()
            if submission is None:
                submission = Submission.objects.create(
                    model_version=model.model_version,
                    status=Submission.Status.COMPARING,
                    status_detail=DEMO_MARK,
                )
                submission.domains.set(domains)
        submissions = {
            s.model_version_id: s for s in Submission.objects.filter(status_detail=DEMO_MARK)
        }
        for domain in domains:
            file_name = spec_by_slug[domain.slug]["prompts_file"]
            answers = {
                row["external_id"]: row for row in _load_jsonl(DEMO_DIR / "answers" / file_name)
            }
            language = "es" if domain.slug == "spanish" else "en"
            prompts = list(
                Prompt.objects.filter(prompt_set__domain=domain, prompt_set__version=version)
            )
            existing = set(
                Response.objects.filter(prompt__in=prompts).values_list(
                    "model_version_id", "prompt_id"
                )
            )
            new_responses = []
            for model in models:
                for prompt in prompts:
                    if (model.model_version.pk, prompt.pk) in existing:
                        continue
                    text = _demo_answer(
                        answers=answers[prompt.external_id],
                        model=model,
                        prompt=prompt,
                        language=language,
                    )
                    rng = _stable_rng("latency", model.model_version.pk, prompt.pk)
                    new_responses.append(
                        Response(
                            model_version=model.model_version,
                            prompt=prompt,
                            submission=submissions[model.model_version.pk],
                            status=Response.Status.OK,
                            text=text,
                            finish_reason="stop",
                            latency_ms=rng.randint(400, 6000),
                            prompt_tokens=max(1, len(prompt.text) // 4),
                            completion_tokens=max(1, len(text) // 4),
                            attempts=1,
                        )
                    )
            # Rendered once, here, like every collected answer: pages only show the stored HTML.
            rendered = answers_render(
                [response.text for response in new_responses], limits=answer_render_limits()
            )
            for response, answer in zip(new_responses, rendered, strict=True):
                response.html = answer.html
            Response.objects.bulk_create(new_responses)
            response_styles_backfill(domain_id=domain.pk)
            created += len(new_responses)
            PromptExposure.objects.bulk_create(
                [
                    PromptExposure(
                        lab_id=model.model_version.lab_id,
                        prompt=prompt,
                        model_version=model.model_version,
                        submission=submissions[model.model_version.pk],
                        first_exposed_at=now,
                    )
                    for model in models
                    for prompt in prompts
                ],
                ignore_conflicts=True,
            )
    return created


def demo_catalog_seed() -> CatalogSeed:
    """Seed the whole demo catalog (idempotent)."""
    version = _load_json("domains.json")["prompt_set_version"]
    domains = demo_domains_seed(version=version)
    models = demo_labs_seed()
    demo_responses_seed(domains=domains, models=models, version=version)
    return CatalogSeed(domains=domains, models=models, prompt_set_version=version)
