"""Domains, their rubrics and categories, and prompt sets: importing and activating them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from seal.errors import ApplicationError
from seal.models import Category, Domain, Prompt, PromptSet, category_slug_problem
from seal.prompt_import import LineError, prompts_parse, text_problem
from seal.rubrics import rubric_parse


class PromptImportError(ApplicationError):
    """A prompt file with bad lines; `line_errors` lists each problem with its line number."""

    def __init__(self, line_errors: list[LineError]) -> None:
        shown = line_errors[:100]
        more = len(line_errors) - len(shown)
        summary = "\n".join(str(error) for error in shown)
        if more:
            summary += f"\n... and {more} more"
        super().__init__(
            f"The file was not imported ({len(line_errors)} problem"
            f"{'s' if len(line_errors) != 1 else ''}); nothing was written.\n{summary}"
        )
        self.line_errors = line_errors


@dataclass(frozen=True)
class PromptImportResult:
    prompt_set: PromptSet
    created_count: int
    created_set: bool


def domain_upsert(
    *,
    slug: str,
    name: str,
    rubric: Mapping[str, Any],
    description: str = "",
    answer_grading: str = Domain.AnswerGrading.NONE,
    categories: Iterable[tuple[str, str]] = (),
) -> Domain:
    """Create or update a domain with its rubric, adding any categories it does not have yet."""
    try:
        rubric_parse(rubric)
    except ValidationError as exc:
        raise ApplicationError(
            "Invalid rubric", field_errors={"rubric": list(exc.messages)}
        ) from exc
    if answer_grading not in Domain.AnswerGrading.values:
        raise ApplicationError(f"Unknown answer grading {answer_grading!r}")
    with transaction.atomic():
        domain, _ = Domain.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "rubric": dict(rubric),
                "description": description,
                "answer_grading": answer_grading,
            },
        )
        for facet, value in categories:
            category_add(domain=domain, facet=facet, value=value)
    return domain


def category_add(*, domain: Domain, facet: str, value: str) -> Category:
    """Add one facet value to a domain (idempotent)."""
    facet_slug = slugify(facet).replace("-", "_")
    if not facet_slug or not value.strip():
        raise ApplicationError("A category needs a facet and a value")
    slug = slugify(f"{facet_slug}-{value}")[:120]
    if problem := category_slug_problem(slug):
        raise ApplicationError(problem, field_errors={"value": [problem]})
    category, _ = Category.objects.get_or_create(
        domain=domain, facet=facet_slug, value=value.strip(), defaults={"slug": slug}
    )
    return category


def prompt_set_import(
    *,
    domain: Domain,
    version: str,
    lines: Iterable[bytes | str],
    created_by: User | None = None,
    description: str = "",
    activate: bool = False,
) -> PromptImportResult:
    """Import a JSONL file into the domain's draft set `version`: every line valid, or nothing."""
    version = version.strip()
    if not version:
        raise ApplicationError(
            "A prompt set version is required", field_errors={"version": ["required"]}
        )
    for name, value in (("version", version), ("description", description)):
        if problem := text_problem(name, value):
            raise ApplicationError(problem, field_errors={name: [problem]})
    with transaction.atomic():
        prompt_set = (
            PromptSet.objects.select_for_update().filter(domain=domain, version=version).first()
        )
        if prompt_set is not None and prompt_set.status != PromptSet.Status.DRAFT:
            raise ApplicationError(
                f"Prompt set {domain.slug} {version} is {prompt_set.status}; prompts can only be "
                "added to a draft set. Import into a new version instead."
            )
        categories = {(c.facet, c.value): c for c in domain.categories.all()}
        facets: dict[str, set[str]] = {}
        for facet, value in categories:
            facets.setdefault(facet, set()).add(value)
        existing = (
            list(prompt_set.prompts.values_list("content_hash", "external_id", "pk"))
            if prompt_set
            else []
        )
        parsed, errors = prompts_parse(
            lines,
            facets=facets,
            numeric_gold=domain.requires_gold_answer,
            existing_hashes={h: f"prompt {ext or f'#{pk}'}" for h, ext, pk in existing},
            existing_external_ids={ext for _, ext, _ in existing if ext},
        )
        if errors:
            raise PromptImportError(errors)

        created_set = prompt_set is None
        if prompt_set is None:
            try:
                with transaction.atomic():
                    prompt_set = PromptSet.objects.create(
                        domain=domain,
                        version=version,
                        description=description,
                        created_by=created_by,
                    )
            except IntegrityError as exc:
                raise ApplicationError(
                    f"Prompt set {domain.slug} {version} was created by someone else meanwhile; "
                    "import again to add to it."
                ) from exc

        prompts = Prompt.objects.bulk_create(
            Prompt(
                prompt_set=prompt_set,
                external_id=item.external_id,
                text=item.text,
                gold_answer=item.gold_answer,
                is_public_sample=item.is_public_sample,
                content_hash=item.content_hash,
            )
            for item in parsed
        )
        through = Prompt.categories.through
        through.objects.bulk_create(
            through(prompt_id=prompt.pk, category_id=categories[key].pk)
            for prompt, item in zip(prompts, parsed, strict=True)
            for key in item.category_keys
        )
        if activate:
            prompt_set = prompt_set_activate(prompt_set=prompt_set)
    return PromptImportResult(prompt_set, len(prompts), created_set)


def prompt_set_activate(*, prompt_set: PromptSet) -> PromptSet:
    """Make a draft set the domain's active one, retiring the set that was active."""
    with transaction.atomic():
        locked = PromptSet.objects.select_for_update().get(pk=prompt_set.pk)
        if locked.status == PromptSet.Status.ACTIVE:
            return locked
        if problem := locked.activation_problem():
            raise ApplicationError(problem)
        PromptSet.objects.filter(domain=locked.domain, status=PromptSet.Status.ACTIVE).update(
            status=PromptSet.Status.RETIRED, updated_at=timezone.now()
        )
        locked.status = PromptSet.Status.ACTIVE
        locked.save(update_fields=["status", "updated_at"])
    return locked
