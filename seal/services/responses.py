"""Answers and exposures: counting an answer's style, noting what a lab was sent, the bounds on
rendering an answer, scrubbing endpoint secrets from stored errors. The collector
(seal.services.collection) stores the answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from seal.answer_style import STYLE_VERSION, answer_style
from seal.endpoints import scrub_secret, secret_forms, storable_text
from seal.models import ModelVersion, PromptExposure, Response, ResponseStyle, Submission
from seal.rendering import RenderLimits, answers_render


def response_errors_scrub() -> int:
    """Remove every spelling of each endpoint secret from the errors already stored; a count."""
    scrubbed = 0
    with_secret = ModelVersion.objects.exclude(api_secret="").only("pk", "api_secret")
    for model_version in with_secret.iterator():
        leaked = Q()
        for form in secret_forms(model_version.api_secret):
            leaked |= Q(error__contains=form)
        with transaction.atomic():
            rows = (
                Response.objects.select_for_update()
                .filter(leaked, model_version=model_version)
                .only("pk", "error")
            )
            for row in rows:
                clean = scrub_secret(row.error, model_version.api_secret)[:2000]
                scrubbed += Response.objects.filter(pk=row.pk).update(error=clean)
    return scrubbed


def answer_render_limits() -> RenderLimits:
    """Bounds on rendering one answer to HTML (SEAL_RENDER_*)."""
    return RenderLimits(
        timeout_seconds=float(settings.SEAL_RENDER_TIMEOUT_SECONDS),
        max_markdown_chars=settings.SEAL_RENDER_MAX_MARKDOWN_CHARS,
        max_brackets=settings.SEAL_RENDER_MAX_BRACKETS,
        max_html_chars=settings.SEAL_RENDER_MAX_HTML_CHARS,
    )


def answer_html_render(*, text: str) -> str:
    """An answer's stored rendering: sanitised HTML, or the escaped text when refused."""
    (rendered,) = answers_render([text], limits=answer_render_limits())
    return _clean_text(rendered.html)


def response_styles_record(*, responses: Iterable[tuple[int, str]]) -> int:
    """Count and keep the style of collected answers, given as (response id, text); once each.

    An answer's text changes only by a staff edit, which counts it again (response_style_recount),
    so a stored count stays right; a row already there is left alone."""
    rows = []
    for response_id, text in responses:
        style = answer_style(text)
        rows.append(
            ResponseStyle(
                response_id=response_id,
                tokens=style.tokens,
                headers=style.headers,
                list_items=style.list_items,
                bold=style.bold,
                code_blocks=style.code_blocks,
                version=STYLE_VERSION,
            )
        )
    with transaction.atomic():
        ResponseStyle.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)


def response_style_recount(*, response: Response) -> None:
    """Count an answer's style again from its text, which staff changed (response_edit)."""
    with transaction.atomic():
        ResponseStyle.objects.filter(response_id=response.pk).delete()
        response_styles_record(responses=[(response.pk, response.text)])


def response_styles_backfill(*, domain_id: int | None = None, batch: int = 1000) -> int:
    """Count the style of every collected answer (of one domain) that has none yet.

    Answers are counted when stored; this covers answers stored by any other path (a bulk
    load, an older release), so the style-controlled boards never miss one."""
    missing = Response.objects.filter(status=Response.Status.OK, style__isnull=True)
    if domain_id is not None:
        missing = missing.filter(prompt__prompt_set__domain_id=domain_id)
    counted = 0
    last_pk = 0
    while True:
        chunk = list(
            missing.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "text")[:batch]
        )
        if not chunk:
            return counted
        counted += response_styles_record(responses=chunk)
        last_pk = chunk[-1][0]


def prompt_exposures_record(
    *,
    model_version: ModelVersion,
    prompt_ids: Sequence[int],
    submission: Submission | None = None,
    at: datetime | None = None,
) -> dict[int, datetime]:
    """Note that the model's lab is being sent these prompts; returns each one's first exposure."""
    at = at or timezone.now()
    with transaction.atomic():
        seen = dict(
            PromptExposure.objects.filter(
                lab_id=model_version.lab_id, prompt_id__in=prompt_ids
            ).values_list("prompt_id", "first_exposed_at")
        )
        new = [pk for pk in prompt_ids if pk not in seen]
        if new:
            PromptExposure.objects.bulk_create(
                [
                    PromptExposure(
                        lab_id=model_version.lab_id,
                        prompt_id=pk,
                        model_version=model_version,
                        submission=submission,
                        first_exposed_at=at,
                    )
                    for pk in new
                ],
                ignore_conflicts=True,
            )
            seen.update(
                PromptExposure.objects.filter(
                    lab_id=model_version.lab_id, prompt_id__in=new
                ).values_list("prompt_id", "first_exposed_at")
            )
    return seen


def _clean_text(value: str) -> str:
    # The endpoint client already cleans what it returns; this holds for every other writer.
    return storable_text(value)
