"""Every write to the evaluation catalog goes through here."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.text import slugify

from seal.answer_style import STYLE_VERSION, answer_style
from seal.endpoints import (
    INTERRUPTED,
    AllowList,
    CallPolicy,
    ChatCall,
    ChatResult,
    EndpointClient,
    completions_url,
    endpoint_secret_problems,
    endpoint_url_problems,
    scrub_secret,
    secret_forms,
    storable_text,
)
from seal.errors import ApplicationError
from seal.generation_params import generation_params_problems
from seal.models import (
    Category,
    CollectionLease,
    Domain,
    Lab,
    LabAPIKey,
    ModelVersion,
    Prompt,
    PromptExposure,
    PromptSet,
    Response,
    ResponseStyle,
    Submission,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerHeartbeat,
)
from seal.prompt_import import LineError, prompts_parse, text_problem
from seal.rendering import AnswerRenderer, RenderLimits, answers_render
from seal.rubrics import rubric_parse
from seal.selectors import (
    SubmissionProgress,
    lab_collecting_submission_ids,
    lab_ids_needing_collection,
    response_failure_kinds,
    submission_progress,
    submission_prompt_ids_to_send,
)
from seal.tasking import task_send_on_commit
from seal.webhooks import (
    TEST_EVENT_TYPE,
    WebhookPolicy,
    webhook_backoff_delay,
    webhook_body,
    webhook_post,
    webhook_secret_generate,
    webhook_url_problems,
)

logger = logging.getLogger(__name__)

# The annotation layer's entry point once a submission's responses are in; sent by name because
# the catalog never imports the layers above it.
COMPARISONS_SCHEDULE_TASK = "annotation.tasks.comparisons_schedule_for_submission"


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
    category, _ = Category.objects.get_or_create(
        domain=domain,
        facet=facet_slug,
        value=value.strip(),
        defaults={"slug": slugify(f"{facet_slug}-{value}")[:120]},
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


def lab_create(*, name: str, slug: str = "", contact_email: str = "") -> Lab:
    """Register a lab."""
    name = name.strip()
    if not name:
        raise ApplicationError("A lab needs a name", field_errors={"name": ["required"]})
    slug = slug or slugify(name)
    if Lab.objects.filter(slug=slug).exists() or Lab.objects.filter(name=name).exists():
        raise ApplicationError(
            f"A lab named {name!r} already exists", field_errors={"name": ["taken"]}
        )
    return Lab.objects.create(name=name, slug=slug, contact_email=contact_email)


def _generation_params_check(params: Mapping[str, Any]) -> dict[str, Any]:
    problems = generation_params_problems(params)
    errors = {f"generation_params.{key}": messages for key, messages in problems.items()}
    if errors:
        raise ApplicationError("Invalid generation parameters", field_errors=errors)
    return dict(params)


def model_version_create(
    *,
    lab: Lab,
    name: str,
    version: str,
    base_url: str,
    model_id: str,
    generation_params: Mapping[str, Any] | None = None,
    api_secret: str = "",
) -> ModelVersion:
    """Register a model version with its OpenAI-compatible endpoint."""
    field_errors: dict[str, list[str]] = {}
    for name_, value, limit in (
        ("name", name, 100),
        ("version", version, 50),
        ("model_id", model_id, 200),
        ("base_url", base_url, 500),
        ("api_secret", api_secret, 500),
    ):
        if not value.strip() and name_ != "api_secret":
            field_errors[name_] = ["required"]
        elif len(value) > limit:
            field_errors[name_] = [f"at most {limit} characters"]
        elif "\x00" in value:
            field_errors[name_] = ["must not contain NUL characters"]
    if "base_url" not in field_errors:
        problems = endpoint_url_problems(base_url, allow=endpoint_allow_list())
        if problems:
            field_errors["base_url"] = problems
    if "api_secret" not in field_errors:
        problems = endpoint_secret_problems(api_secret)
        if problems:
            field_errors["api_secret"] = problems
    if field_errors:
        raise ApplicationError("Invalid model version", field_errors=field_errors)
    params = _generation_params_check(generation_params or {})
    if ModelVersion.objects.filter(lab=lab, name=name.strip(), version=version.strip()).exists():
        raise ApplicationError(
            f"{name} {version} is already registered", field_errors={"version": ["taken"]}
        )
    try:
        with transaction.atomic():
            return ModelVersion.objects.create(
                lab=lab,
                name=name.strip(),
                version=version.strip(),
                base_url=base_url.strip(),
                model_id=model_id.strip(),
                generation_params=params,
                api_secret=api_secret,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            f"{name} {version} is already registered", field_errors={"version": ["taken"]}
        ) from exc


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


def endpoint_allow_list() -> AllowList:
    """Hosts exempt from the endpoint address guard (SEAL_ENDPOINT_ALLOWED_HOSTS)."""
    return AllowList.parse(settings.SEAL_ENDPOINT_ALLOWED_HOSTS)


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


def prompt_exposure_record(
    *,
    model_version: ModelVersion,
    prompt: Prompt,
    submission: Submission | None = None,
    at: datetime | None = None,
) -> tuple[PromptExposure, bool]:
    """Note that the model's lab was sent this prompt; the first sending is the one kept."""
    exposure, created = PromptExposure.objects.get_or_create(
        lab_id=model_version.lab_id,
        prompt=prompt,
        defaults={
            "model_version": model_version,
            "submission": submission,
            "first_exposed_at": at or timezone.now(),
        },
    )
    return exposure, created


def response_store(
    *,
    model_version: ModelVersion,
    prompt: Prompt,
    text: str,
    finish_reason: str = "stop",
    latency_ms: int | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    submission: Submission | None = None,
) -> Response:
    """Keep a model's answer to a prompt; a second answer for the same pair is never stored."""
    text = _clean_text(text)
    # Rendered before the row is locked: a slow render must not hold the lock.
    html = answer_html_render(text=text)
    with transaction.atomic():
        response, created = Response.objects.select_for_update().get_or_create(
            model_version=model_version,
            prompt=prompt,
            defaults={"submission": submission},
        )
        if not created and response.status == Response.Status.OK:
            return response
        response.status = Response.Status.OK
        response.text = text
        response.html = html
        response.finish_reason = _clean_text(finish_reason)[:50]
        response.latency_ms = latency_ms
        response.prompt_tokens = prompt_tokens
        response.completion_tokens = completion_tokens
        response.error = ""
        response.attempts += 1
        response.save()
    # Counted after the row lock is released; should this fail, the recompute counts it.
    response_styles_record(responses=[(response.pk, text)])
    return response


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


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    """Record that a worker on `hostname` is alive now."""
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:255], defaults={"seen_at": timezone.now()}
    )
    return heartbeat


def demo_user_upsert(*, username: str, password_hash: str, is_staff: bool = False) -> User:
    """Create a demo login, or reset it, with a password hashed once for all demo accounts."""
    user, _ = User.objects.update_or_create(
        username=username,
        defaults={"password": password_hash, "is_staff": is_staff, "is_superuser": is_staff},
    )
    return user


# --- Lab API keys ---------------------------------------------------------------------------------


def lab_api_key_create(
    *, lab: Lab, name: str, expires_at: datetime | None = None
) -> tuple[LabAPIKey, str]:
    """Issue an API key for a lab; the raw key is returned here once and stored only hashed."""
    name = name.strip()
    if not name or len(name) > 50:
        raise ApplicationError(
            "A key needs a name of at most 50 characters", field_errors={"name": ["required"]}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError(
            "The expiry must be in the future", field_errors={"expires_at": ["in the past"]}
        )
    key, raw_key = LabAPIKey.objects.create_key(lab=lab, name=name, expiry_date=expires_at)
    assert isinstance(key, LabAPIKey)
    return key, raw_key


def lab_api_key_revoke(*, key: LabAPIKey) -> LabAPIKey:
    """Revoke a key for good: requests with it are refused from now on."""
    LabAPIKey.objects.filter(pk=key.pk).update(revoked=True)
    key.refresh_from_db()
    return key


# --- Submissions ----------------------------------------------------------------------------------


def submission_create(*, model_version: ModelVersion, domains: Sequence[str]) -> Submission:
    """Submit a model version for some domains (by slug) on their active prompt sets as of now."""
    slugs = list(dict.fromkeys(slug.strip() for slug in domains if slug.strip()))
    if not slugs:
        raise ApplicationError(
            "Name at least one domain", field_errors={"domains": ["at least one domain"]}
        )
    if model_version.status != ModelVersion.Status.ACTIVE:
        raise ApplicationError(
            "A retired model version cannot be submitted",
            field_errors={"model_version": ["retired"]},
        )
    with transaction.atomic():
        # Serialises submissions of one model version, so two requests cannot both pass the
        # "not submitted yet" check below.
        ModelVersion.objects.select_for_update().filter(pk=model_version.pk).first()
        found = {d.slug: d for d in Domain.objects.filter(slug__in=slugs, is_active=True)}
        active_sets = {
            prompt_set.domain_id: prompt_set
            for prompt_set in PromptSet.objects.filter(
                domain__in=found.values(), status=PromptSet.Status.ACTIVE
            ).annotate(prompt_total=Count("prompts"))
        }
        taken = set(
            Submission.objects.filter(model_version=model_version, domains__in=found.values())
            .exclude(status__in=[Submission.Status.FAILED, Submission.Status.CANCELLED])
            .values_list("domains__slug", flat=True)
        )
        problems = []
        for slug in slugs:
            domain = found.get(slug)
            if domain is None:
                problems.append(f"unknown domain: {slug}")
            elif domain.pk not in active_sets or not active_sets[domain.pk].prompt_total:
                problems.append(f"no active prompt set yet: {slug}")
            elif slug in taken:
                problems.append(f"already submitted: {slug}")
        if problems:
            raise ApplicationError(
                "This submission cannot be accepted", field_errors={"domains": problems}
            )
        submission = Submission.objects.create(model_version=model_version)
        submission.domains.set([found[slug] for slug in slugs])
        submission.prompt_sets.set([active_sets[found[slug].pk] for slug in slugs])
        _lab_collection_enqueue(lab_id=model_version.lab_id)
    return submission


def submission_cancel(*, submission: Submission) -> Submission:
    """Stop a submission's collection: no further prompt is sent for it."""
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        if locked.status == Submission.Status.CANCELLED:
            return locked
        if not locked.is_collecting:
            raise ApplicationError(
                f"Only a pending or collecting submission can be cancelled; this one is "
                f"{locked.get_status_display().lower()}."
            )
        locked.status = Submission.Status.CANCELLED
        locked.cancelled_at = timezone.now()
        locked.status_detail = "Cancelled by the lab."
        locked.save(update_fields=["status", "cancelled_at", "status_detail", "updated_at"])
    return locked


# --- Response collection --------------------------------------------------------------------------


class CollectionLeaseBusy(Exception):
    """Another collector is calling this lab's endpoints; try again in `retry_in` seconds."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"the lab's collection lease is held; retry in {retry_in:.0f} s")
        self.retry_in = retry_in


@dataclass
class CollectionReport:
    sent: int = 0
    collected: int = 0
    failed: int = 0
    finished_submission_ids: list[int] = field(default_factory=list)
    budget_exhausted: bool = False
    lease_lost: bool = False


@dataclass(frozen=True)
class RetryOutcome:
    retried: int
    skipped: int


def _lab_collection_enqueue(*, lab_id: int) -> None:
    task_send_on_commit("seal.tasks.lab_responses_collect", lab_id)


def _collection_lease_acquire(*, lab: Lab, holder: str, seconds: float) -> float | None:
    """Take the lab's lease if free or lapsed: None when taken, else seconds until it lapses."""
    now = timezone.now()
    CollectionLease.objects.get_or_create(lab=lab)
    taken = (
        CollectionLease.objects.filter(lab=lab)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lte=now))
        .update(holder=holder, expires_at=now + timedelta(seconds=seconds))
    )
    if taken:
        return None
    expires_at = (
        CollectionLease.objects.filter(lab=lab).values_list("expires_at", flat=True).first()
    )
    return max(1.0, (expires_at - now).total_seconds()) if expires_at else 1.0


def _collection_lease_renew(*, lab: Lab, holder: str, seconds: float) -> bool:
    return bool(
        CollectionLease.objects.filter(lab=lab, holder=holder).update(
            expires_at=timezone.now() + timedelta(seconds=seconds)
        )
    )


def _collection_lease_release(*, lab: Lab, holder: str) -> None:
    CollectionLease.objects.filter(lab=lab, holder=holder).update(holder="", expires_at=None)


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


SEND_LIMIT = "send_limit"
UNSTORABLE = "unstorable"
# What the database (or its driver) raises for a row it cannot take; a lost connection is a
# DatabaseError too, but then writing the row alone fails as well and the error goes up.
_UNSTORABLE_ERRORS = (DatabaseError, ValueError, OverflowError)


@dataclass(frozen=True)
class _CallOutcome:
    """A finished call of one model version, with its answer already rendered to HTML."""

    model_version_id: int
    result: ChatResult
    html: str = ""


def _responses_claim(*, submission: Submission, prompt_ids: Sequence[int]) -> list[ChatCall]:
    """Record the exposures and a pending response for each prompt, counting one more send of
    each; return the calls to make. A prompt already sent the maximum number of times is failed
    with "send_limit" instead."""
    # Exposures are written before anything is sent: once a request leaves, the prompt has left
    # the platform, whether or not an answer comes back. Sends are counted here for the same
    # reason: a collector that dies mid-call never gets to count them afterwards.
    model_version = submission.model_version
    now = timezone.now()
    max_sends = max(1, settings.SEAL_COLLECTION_MAX_SENDS_PER_PROMPT)
    with transaction.atomic():
        texts = dict(Prompt.objects.filter(pk__in=prompt_ids).values_list("pk", "text"))
        first_seen = prompt_exposures_record(
            model_version=model_version, prompt_ids=list(texts), submission=submission, at=now
        )
        flagged = {pk for pk, at in first_seen.items() if at < submission.created_at}
        existing = set(
            Response.objects.filter(
                model_version=model_version, prompt_id__in=list(texts)
            ).values_list("prompt_id", flat=True)
        )
        Response.objects.bulk_create(
            [
                Response(
                    model_version=model_version,
                    prompt_id=pk,
                    submission=submission,
                    status=Response.Status.PENDING,
                    lab_previously_exposed=pk in flagged,
                    sends=1,
                )
                for pk in texts
                if pk not in existing
            ],
            ignore_conflicts=True,
        )
        if existing:
            not_to_send = _responses_reclaim(
                submission=submission,
                prompt_ids=existing,
                flagged=flagged,
                max_sends=max_sends,
                now=now,
            )
            texts = {pk: text for pk, text in texts.items() if pk not in not_to_send}
    url = completions_url(model_version.base_url)
    return [
        ChatCall(
            key=pk,
            url=url,
            model_id=model_version.model_id,
            text=texts[pk],
            params=model_version.generation_params or {},
            secret=model_version.api_secret,
        )
        for pk in prompt_ids
        if pk in texts
    ]


def _responses_reclaim(
    *,
    submission: Submission,
    prompt_ids: set[int],
    flagged: set[int],
    max_sends: int,
    now: datetime,
) -> set[int]:
    """Put existing rows of these prompts back to pending for `submission`, one send more;
    return the prompts not to send: already answered, or failed here at the send limit."""
    # A row left pending by a collector that died, or failed in an earlier submission.
    model_version = submission.model_version
    reclaimed = Response.objects.filter(
        model_version=model_version, prompt_id__in=prompt_ids
    ).exclude(status=Response.Status.OK)
    given_up = _responses_fail_at_send_limit(
        rows=reclaimed, submission=submission, max_sends=max_sends, now=now
    )
    for is_flagged, ids in ((True, flagged), (False, prompt_ids - flagged)):
        reclaimed.filter(prompt_id__in=ids, sends__lt=max_sends).update(
            submission=submission,
            status=Response.Status.PENDING,
            lab_previously_exposed=is_flagged,
            error="",
            sends=F("sends") + 1,
            updated_at=now,
        )
    answered = set(
        Response.objects.filter(
            model_version=model_version, prompt_id__in=prompt_ids, status=Response.Status.OK
        ).values_list("prompt_id", flat=True)
    )
    return answered | given_up


def _responses_fail_at_send_limit(
    *, rows: QuerySet[Response], submission: Submission, max_sends: int, now: datetime
) -> set[int]:
    """Fail the rows already sent `max_sends` times (for `submission`); return their prompts."""
    at_limit = rows.filter(sends__gte=max_sends)
    given_up = set(at_limit.values_list("prompt_id", flat=True))
    if given_up:
        at_limit.update(
            submission=submission,
            status=Response.Status.FAILED,
            error=f"{SEND_LIMIT}: sent {max_sends} times without an answer that could be "
            "stored; not sent again",
            updated_at=now,
        )
        logger.warning(
            "submission %s: %s prompts reached the limit of %s sends and were failed",
            submission.pk,
            len(given_up),
            max_sends,
        )
    return given_up


def _clean_text(value: str) -> str:
    # The endpoint client already cleans what it returns; this holds for every other writer.
    return storable_text(value)


def _collection_results_store(*, outcomes: Sequence[_CallOutcome]) -> None:
    """Keep each finished call's outcome on its response row; an answer already kept stays.

    The batch is one transaction. Should the database refuse it, each row is written alone and a
    row still refused is failed ("unstorable"), so one answer never holds the others back."""
    now = timezone.now()
    try:
        with transaction.atomic():
            for outcome in outcomes:
                _collection_result_write(outcome=outcome, now=now)
    except _UNSTORABLE_ERRORS as exc:
        logger.warning(
            "a batch of %s results was refused (%s); writing them one by one",
            len(outcomes),
            type(exc).__name__,
        )
        for outcome in outcomes:
            _collection_result_write_alone(outcome=outcome, now=now)
    _collection_styles_record(outcomes=outcomes)


def _collection_styles_record(*, outcomes: Sequence[_CallOutcome]) -> None:
    """Count the style of the answers this batch stored (a refused one has none to count)."""
    wanted = Q(pk__in=[])
    for outcome in outcomes:
        if outcome.result.ok:
            wanted |= Q(model_version_id=outcome.model_version_id, prompt_id=outcome.result.key)
    stored = Response.objects.filter(wanted, status=Response.Status.OK, style__isnull=True)
    try:
        response_styles_record(responses=list(stored.values_list("pk", "text")))
    except _UNSTORABLE_ERRORS:
        # The counts are derived data: the recompute's backfill counts what is missing here.
        logger.exception("style counts of %s collected answers were not stored", len(outcomes))


def _collection_result_write_alone(*, outcome: _CallOutcome, now: datetime) -> None:
    try:
        with transaction.atomic():
            _collection_result_write(outcome=outcome, now=now)
    except _UNSTORABLE_ERRORS as exc:
        logger.error(
            "model version %s, prompt %s: the result could not be stored (%s: %s); failed",
            outcome.model_version_id,
            outcome.result.key,
            type(exc).__name__,
            str(exc)[:200],
        )
        _pending_response(outcome).update(
            status=Response.Status.FAILED,
            error=f"{UNSTORABLE}: the database refused the result ({type(exc).__name__})",
            attempts=F("attempts") + outcome.result.attempts,
            updated_at=now,
        )


def _pending_response(outcome: _CallOutcome) -> QuerySet[Response]:
    return Response.objects.filter(
        model_version_id=outcome.model_version_id, prompt_id=outcome.result.key
    ).exclude(status=Response.Status.OK)


def _collection_result_write(*, outcome: _CallOutcome, now: datetime) -> None:
    result = outcome.result
    row = _pending_response(outcome)
    if result.ok:
        row.update(
            status=Response.Status.OK,
            text=_clean_text(result.text),
            html=_clean_text(outcome.html),
            finish_reason=_clean_text(result.finish_reason)[:50],
            latency_ms=result.latency_ms,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            error="",
            attempts=F("attempts") + result.attempts,
            updated_at=now,
        )
    elif result.error_kind == INTERRUPTED:
        # Stopped mid-retry (budget, cancellation): left pending for the next collector.
        row.update(attempts=F("attempts") + result.attempts, updated_at=now)
    else:
        row.update(
            status=Response.Status.FAILED,
            error=_clean_text(f"{result.error_kind}: {result.error}")[:2000],
            attempts=F("attempts") + result.attempts,
            updated_at=now,
        )


def submission_collection_start(*, submission: Submission) -> Submission | None:
    """Move a pending submission to collecting; None when it is no longer waiting for responses."""
    with transaction.atomic():
        locked = (
            Submission.objects.select_for_update()
            .select_related("model_version")
            .filter(pk=submission.pk)
            .first()
        )
        if locked is None or not locked.is_collecting:
            return None
        if locked.status == Submission.Status.PENDING:
            locked.status = Submission.Status.COLLECTING
            locked.collection_started_at = timezone.now()
            locked.save(update_fields=["status", "collection_started_at", "updated_at"])
    return locked


def submission_collection_finish(*, submission: Submission) -> Submission:
    """Close a collection whose prompts were all sent: collected, or failed if nothing came back."""
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        if locked.status != Submission.Status.COLLECTING:
            return locked
        progress = submission_progress(submission=locked)
        if progress.pending:
            return locked  # something was put back meanwhile; the next collector takes it
        kinds = response_failure_kinds(submission=locked)
        failure_note = ""
        if progress.failed:
            common = ", ".join(f"{kind} ({n})" for kind, n in list(kinds.items())[:3])
            failure_note = f"{progress.failed} of {progress.total} calls failed: {common}."
        if progress.collected == 0 and progress.total:
            locked.status = Submission.Status.FAILED
            locked.status_detail = f"No answer was collected. {failure_note}".strip()
        else:
            locked.status = Submission.Status.COLLECTED
            # Handed to the annotation layer by task name, after commit (seal never imports it).
            locked.status_detail = (
                f"{progress.collected} of {progress.total} answers collected. {failure_note}"
            ).strip()
            task_send_on_commit(COMPARISONS_SCHEDULE_TASK, locked.pk)
        locked.collection_finished_at = timezone.now()
        if locked.status == Submission.Status.COLLECTED:
            _submission_collected_emit(submission=locked, progress=progress)
        locked.comparisons_scheduled_at = None
        locked.save(
            update_fields=[
                "status",
                "status_detail",
                "collection_finished_at",
                "comparisons_scheduled_at",
                "updated_at",
            ]
        )
    return locked


@dataclass
class _SubmissionRun:
    submission: Submission
    to_send: deque[int]
    stop: threading.Event = field(default_factory=threading.Event)
    ready: int = 0  # claimed, waiting for a free slot
    outstanding: int = 0  # sent, result not written yet
    finished: bool = False

    @property
    def has_work(self) -> bool:
        return not self.finished and bool(self.to_send or self.ready)


class _Collector:
    """One lab's collection. This (the calling) thread claims prompts a batch at a time, hands
    them to a pool of threads as slots free up, and writes results in batches; pool threads only
    speak HTTP and never touch the database."""

    def __init__(self, *, lab: Lab, holder: str, budget_seconds: float) -> None:
        self.lab = lab
        self.holder = holder
        self.concurrency = max(1, settings.SEAL_COLLECTION_CONCURRENCY_PER_LAB)
        self.lease_seconds = float(settings.SEAL_COLLECTION_LEASE_SECONDS)
        self.deadline = time.monotonic() + budget_seconds
        self.policy = CallPolicy(
            timeout=float(settings.SEAL_COLLECTION_TIMEOUT_SECONDS),
            max_attempts=max(1, settings.SEAL_COLLECTION_MAX_ATTEMPTS),
            backoff_base=float(settings.SEAL_COLLECTION_BACKOFF_BASE_SECONDS),
            backoff_max=float(settings.SEAL_COLLECTION_BACKOFF_MAX_SECONDS),
            max_response_bytes=settings.SEAL_COLLECTION_MAX_RESPONSE_BYTES,
        )
        self.renderer = AnswerRenderer(answer_render_limits())
        self.report = CollectionReport()
        self.runs: list[_SubmissionRun] = []
        self.ready: deque[tuple[_SubmissionRun, ChatCall]] = deque()
        self.in_flight: dict[Future[_CallOutcome], _SubmissionRun] = {}
        self.unstored: list[_CallOutcome] = []
        self.last_flush = time.monotonic()
        self.seen_submission_ids: set[int] = set()

    @property
    def stopped(self) -> bool:
        return self.report.lease_lost or self.report.budget_exhausted

    def _load_runs(self) -> None:
        for pk in lab_collecting_submission_ids(lab=self.lab):
            if pk in self.seen_submission_ids:
                continue
            self.seen_submission_ids.add(pk)
            submission = submission_collection_start(submission=Submission.objects.get(pk=pk))
            if submission is not None:
                to_send = deque(submission_prompt_ids_to_send(submission=submission))
                self.runs.append(_SubmissionRun(submission, to_send))

    def _stop(self, runs: Iterable[_SubmissionRun]) -> None:
        # Claimed prompts not sent yet stay pending (their exposure is already recorded, which
        # errs on the safe side); a later collector sends them if the submission still waits.
        stopping = set()
        for run in runs:
            run.to_send.clear()
            run.stop.set()
            stopping.add(id(run))
        self.ready = deque(item for item in self.ready if id(item[0]) not in stopping)
        for run in self.runs:
            run.ready = sum(1 for r, _ in self.ready if r is run)

    def _check_statuses(self) -> None:
        open_runs = {run.submission.pk: run for run in self.runs if not run.finished}
        if not open_runs:
            return
        statuses = dict(Submission.objects.filter(pk__in=open_runs).values_list("pk", "status"))
        gone = [run for pk, run in open_runs.items() if statuses.get(pk) != "collecting"]
        self._stop(gone)
        for run in gone:
            run.finished = True

    def _claim_ahead(self) -> None:
        # Claiming a batch ahead keeps database round trips off the path of each freed slot.
        target = 2 * self.concurrency
        if len(self.ready) >= self.concurrency:
            return
        for run in self.runs:
            if len(self.ready) >= target:
                return
            if run.finished or not run.to_send:
                continue
            count = min(target - len(self.ready), len(run.to_send))
            batch = [run.to_send.popleft() for _ in range(count)]
            for call in _responses_claim(submission=run.submission, prompt_ids=batch):
                self.ready.append((run, call))
                run.ready += 1

    def _dispatch(self, pool: ThreadPoolExecutor, client: EndpointClient) -> None:
        while self.ready and len(self.in_flight) < self.concurrency:
            run, call = self.ready.popleft()
            run.ready -= 1
            future = pool.submit(self._call, client, call, run)
            self.in_flight[future] = run
            run.outstanding += 1
            self.report.sent += 1

    def _call(self, client: EndpointClient, call: ChatCall, run: _SubmissionRun) -> _CallOutcome:
        # In a pool thread: the HTTP call, then the answer's HTML, rendered by the renderer's
        # child process while this thread waits (the collecting thread never renders).
        result = client.complete(call, sleep=run.stop.wait, should_stop=run.stop.is_set)
        html = ""
        if result.ok:
            try:
                html = self.renderer.render(result.text).html
            except Exception:  # the answer is kept all the same; pages show it escaped
                logger.exception("lab %s: rendering an answer failed", self.lab.pk)
        return _CallOutcome(run.submission.model_version_id, result, html)

    def _collect_done(self, done: Iterable[Future[_CallOutcome]]) -> None:
        for future in done:
            run = self.in_flight.pop(future)
            run.outstanding -= 1
            outcome = future.result()
            self.unstored.append(outcome)
            result = outcome.result
            if result.ok:
                self.report.collected += 1
            elif result.error_kind != INTERRUPTED:
                self.report.failed += 1

    def _flush(self, *, force: bool = False) -> None:
        now = time.monotonic()
        due = len(self.unstored) >= max(1, self.concurrency // 2) or now - self.last_flush >= 0.25
        if self.unstored and (force or due):
            _collection_results_store(outcomes=self.unstored)
            self.unstored = []
            self.last_flush = now

    def _finish_runs(self) -> None:
        done = [
            run
            for run in self.runs
            if not run.finished and not run.to_send and not run.ready and not run.outstanding
        ]
        if not done:
            return
        self._flush(force=True)
        for run in done:
            run.finished = True
            finished = submission_collection_finish(submission=run.submission)
            if finished.status != Submission.Status.COLLECTING:
                self.report.finished_submission_ids.append(finished.pk)

    def run(self) -> CollectionReport:
        self._load_runs()
        last_check = last_renew = time.monotonic()
        with EndpointClient(
            policy=self.policy, allow=endpoint_allow_list(), max_connections=self.concurrency
        ) as client:
            pool = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix=f"collect-lab-{self.lab.pk}"
            )
            try:
                while True:
                    now = time.monotonic()
                    if now - last_renew >= self.lease_seconds / 3:
                        last_renew = now
                        if not _collection_lease_renew(
                            lab=self.lab, holder=self.holder, seconds=self.lease_seconds
                        ):
                            logger.warning("lab %s: collection lease lost; stopping", self.lab.pk)
                            self.report.lease_lost = True
                            self._stop(self.runs)
                    if now - last_check >= 0.5:
                        last_check = now
                        self._check_statuses()
                        if not self.stopped:
                            self._load_runs()  # submissions made while this collector runs
                    if now >= self.deadline and not self.report.budget_exhausted:
                        self.report.budget_exhausted = any(not r.finished for r in self.runs)
                        self._stop(self.runs)
                    if not self.stopped:
                        self._claim_ahead()
                        self._dispatch(pool, client)
                    self._flush(force=not self.in_flight)
                    if not self.report.lease_lost:
                        self._finish_runs()
                    if not self.in_flight:
                        if self.stopped or not any(run.has_work for run in self.runs):
                            break
                        continue
                    done, _ = wait(list(self.in_flight), timeout=0.25, return_when=FIRST_COMPLETED)
                    self._collect_done(done)
                    if not self.stopped:
                        self._dispatch(pool, client)  # refill freed slots before any database work
                self._flush(force=True)
            finally:
                pool.shutdown(wait=not self.in_flight, cancel_futures=True)
                self.renderer.close()
        return self.report


def lab_responses_collect(*, lab: Lab, budget_seconds: float | None = None) -> CollectionReport:
    """Send every prompt the lab's waiting submissions still need; one collector per lab."""
    holder = uuid.uuid4().hex
    lease_seconds = float(settings.SEAL_COLLECTION_LEASE_SECONDS)
    busy_for = _collection_lease_acquire(lab=lab, holder=holder, seconds=lease_seconds)
    if busy_for is not None:
        raise CollectionLeaseBusy(busy_for)
    if budget_seconds is None:
        budget_seconds = settings.SEAL_COLLECTION_TASK_BUDGET_SECONDS
    collector = _Collector(lab=lab, holder=holder, budget_seconds=float(budget_seconds))
    try:
        report = collector.run()
    finally:
        _collection_lease_release(lab=lab, holder=holder)
    unseen = set(lab_collecting_submission_ids(lab=lab)) - collector.seen_submission_ids
    if report.budget_exhausted or unseen:
        _lab_collection_enqueue(lab_id=lab.pk)
    logger.info(
        "lab %s: sent %s prompts, %s answers, %s failures, finished submissions %s%s",
        lab.pk,
        report.sent,
        report.collected,
        report.failed,
        report.finished_submission_ids,
        " (budget used up; continuing in a new task)" if report.budget_exhausted else "",
    )
    return report


def collections_resume() -> list[int]:
    """Enqueue a collector for each lab with waiting submissions and none alive; return ids."""
    lab_ids = lab_ids_needing_collection()
    for lab_id in lab_ids:
        _lab_collection_enqueue(lab_id=lab_id)
    return lab_ids


def responses_retry_failed(*, responses: Iterable[Response]) -> RetryOutcome:
    """Put failed responses back to be sent again, reopening their submissions' collection."""
    ids = [response.pk for response in responses]
    retryable = [
        Submission.Status.COLLECTING,
        Submission.Status.COLLECTED,
        Submission.Status.FAILED,
    ]
    with transaction.atomic():
        rows = list(
            Response.objects.select_for_update()
            .filter(pk__in=ids, status=Response.Status.FAILED, submission__status__in=retryable)
            .values_list("pk", "submission_id", "model_version__lab_id")
        )
        # Staff decided to try again: the send limit starts over for these prompts.
        Response.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
            status=Response.Status.PENDING, error="", sends=0, updated_at=timezone.now()
        )
        Submission.objects.filter(
            pk__in={submission_id for _, submission_id, _ in rows},
            status__in=[Submission.Status.COLLECTED, Submission.Status.FAILED],
        ).update(
            status=Submission.Status.COLLECTING,
            status_detail="Retrying failed calls.",
            collection_finished_at=None,
            updated_at=timezone.now(),
        )
        for lab_id in sorted({lab_id for _, _, lab_id in rows}):
            _lab_collection_enqueue(lab_id=lab_id)
    return RetryOutcome(retried=len(rows), skipped=len(ids) - len(rows))


def user_deactivate(*, user: User) -> int:
    """Deactivate an account and end its sessions; returns how many sessions were ended.

    Django already refuses an inactive user on their next request; deleting the sessions as well
    means reactivating the account later does not bring an old, possibly stolen, session back.
    """
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        # Sessions keep the user id inside their encoded data: each live one is decoded to look.
        ended = [
            session.pk
            for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if session.get_decoded().get("_auth_user_id") == str(user.pk)
        ]
        Session.objects.filter(pk__in=ended).delete()
    return len(ended)


# --- Lab webhooks --------------------------------------------------------------------------------

WEBHOOK_SEND_TASK = "seal.tasks.webhook_delivery_send"
# Sent in the `webhook-id` header: ASCII a header carries and a receiver can key on.
WEBHOOK_EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
WEBHOOK_EVENT_TYPES = frozenset(WebhookEndpoint.EventType.values)


class WebhookDeliveryRetry(Exception):
    """A delivery failed for a transient reason and is due again in `retry_in` seconds."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"due again in {retry_in:.1f} s")
        self.retry_in = retry_in


def webhook_policy() -> WebhookPolicy:
    """Timeout, attempts and backoff of webhook deliveries (SEAL_WEBHOOK_*)."""
    return WebhookPolicy(
        timeout=float(settings.SEAL_WEBHOOK_TIMEOUT_SECONDS),
        max_attempts=max(1, int(settings.SEAL_WEBHOOK_MAX_ATTEMPTS)),
        backoff_base=float(settings.SEAL_WEBHOOK_BACKOFF_BASE_SECONDS),
        backoff_max=float(settings.SEAL_WEBHOOK_BACKOFF_MAX_SECONDS),
    )


def _webhook_url_check(url: str) -> str:
    url = url.strip()
    problems = ["must be at most 500 characters"] if len(url) > 500 else []
    problems += webhook_url_problems(url, allow=endpoint_allow_list())
    if problems:
        raise ApplicationError("The webhook URL is refused.", field_errors={"url": problems})
    return url


def _webhook_event_types_check(event_types: Sequence[str]) -> list[str]:
    unknown = sorted({str(kind) for kind in event_types} - WEBHOOK_EVENT_TYPES)
    if unknown or not event_types:
        allowed = ", ".join(sorted(WEBHOOK_EVENT_TYPES))
        problem = f"unknown: {', '.join(unknown)}; " if unknown else "at least one is needed; "
        raise ApplicationError(
            "The event types are refused.",
            field_errors={"event_types": [f"{problem}choose from {allowed}"]},
        )
    return sorted(set(event_types))


def webhook_endpoint_create(
    *,
    lab: Lab,
    url: str,
    event_types: Sequence[str] | None = None,
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    """Register a webhook endpoint for the lab with a new signing secret (all events by default)."""
    url = _webhook_url_check(url)
    kinds = _webhook_event_types_check(
        sorted(WEBHOOK_EVENT_TYPES) if event_types is None else event_types
    )
    with transaction.atomic():
        # The lab row serialises concurrent registrations, so the cap holds.
        Lab.objects.select_for_update().filter(pk=lab.pk).first()
        limit = int(settings.SEAL_WEBHOOK_MAX_ENDPOINTS_PER_LAB)
        if WebhookEndpoint.objects.filter(lab=lab).count() >= limit:
            raise ApplicationError(f"A lab may register at most {limit} webhook endpoints.")
        return WebhookEndpoint.objects.create(
            lab=lab,
            url=url,
            event_types=kinds,
            description=description[:200],
            is_active=is_active,
            secret=webhook_secret_generate(),
        )


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or active flag (the secret stays)."""
    fields = ["updated_at"]
    if url is not None:
        endpoint.url = _webhook_url_check(url)
        fields.append("url")
    if event_types is not None:
        endpoint.event_types = _webhook_event_types_check(event_types)
        fields.append("event_types")
    if description is not None:
        endpoint.description = description[:200]
        fields.append("description")
    if is_active is not None:
        endpoint.is_active = is_active
        fields.append("is_active")
    with transaction.atomic():
        endpoint.save(update_fields=fields)
    return endpoint


def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Give the endpoint a new signing secret; messages carry a signature with the old one too
    for SEAL_WEBHOOK_SECRET_OVERLAP_SECONDS, so the receiver can switch without a gap."""
    overlap = timedelta(seconds=float(settings.SEAL_WEBHOOK_SECRET_OVERLAP_SECONDS))
    with transaction.atomic():
        endpoint.previous_secret = endpoint.secret if overlap else ""
        endpoint.previous_secret_until = timezone.now() + overlap if overlap else None
        endpoint.secret = webhook_secret_generate()
        endpoint.save(
            update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"]
        )
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    with transaction.atomic():
        endpoint.delete()


def _webhook_payload_check(payload: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise ApplicationError("A webhook payload must be a JSON object.")
    try:
        encoded = json.dumps(dict(payload), allow_nan=False, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"The webhook payload is not JSON: {exc}") from exc
    limit = int(settings.SEAL_WEBHOOK_MAX_PAYLOAD_BYTES)
    if len(encoded) > limit:
        raise ApplicationError(f"The webhook payload is larger than {limit} bytes.")
    data: dict[str, Any] = json.loads(encoded)
    return data


def _webhook_enqueue(delivery_id: int) -> None:
    task_send_on_commit(WEBHOOK_SEND_TASK, delivery_id)


def webhook_event_emit(
    *, lab: Lab, event_type: str, event_id: str, payload: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """Record an event for each of the lab's active endpoints subscribed to it and send it after
    commit; an event id an endpoint already has is neither recorded nor sent again."""
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ApplicationError(f"Unknown webhook event type {event_type!r}.")
    if not WEBHOOK_EVENT_ID.fullmatch(event_id):
        raise ApplicationError(
            f"A webhook event id is 1-100 characters of A-Z a-z 0-9 _ . : -, not {event_id!r}."
        )
    data = _webhook_payload_check(payload)
    with transaction.atomic():
        endpoints = [
            endpoint
            for endpoint in WebhookEndpoint.objects.filter(lab=lab, is_active=True)
            if endpoint.subscribes_to(event_type)
        ]
        if not endpoints:
            return []
        known = set(
            WebhookDelivery.objects.filter(endpoint__in=endpoints, event_id=event_id).values_list(
                "endpoint_id", flat=True
            )
        )
        now = timezone.now()
        fresh = [endpoint.pk for endpoint in endpoints if endpoint.pk not in known]
        # The unique (endpoint, event id) constraint settles a race with a concurrent emit:
        # the row is written once and the other insert does nothing.
        WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    endpoint_id=endpoint_id,
                    event_id=event_id,
                    event_type=event_type,
                    payload=data,
                    next_attempt_at=now,
                )
                for endpoint_id in fresh
            ],
            ignore_conflicts=True,
        )
        created = list(
            WebhookDelivery.objects.filter(
                endpoint_id__in=fresh,
                event_id=event_id,
                status=WebhookDelivery.Status.PENDING,
                attempts=0,
            )
        )
        for delivery in created:
            _webhook_enqueue(delivery.pk)
    return created


def webhook_endpoint_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Send a `webhook.test` event to one endpoint, whatever it subscribes to."""
    if not endpoint.is_active:
        raise ApplicationError("The webhook endpoint is disabled; enable it to test it.")
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=f"evt_test_{uuid.uuid4().hex}",
            event_type=TEST_EVENT_TYPE,
            payload={
                "lab": endpoint.lab.slug,
                "endpoint_id": endpoint.pk,
                "message": "A test event from SEAL: your endpoint received and can verify it.",
            },
            next_attempt_at=timezone.now(),
        )
        _webhook_enqueue(delivery.pk)
    return delivery


def _webhook_claimable(now: datetime, max_attempts: int) -> Q:
    """Due and not in flight: pending and its time has come, or sending under a lapsed claim
    (its sender died); and an attempt left."""
    due = Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=WebhookDelivery.Status.SENDING, claimed_until__lt=now
    )
    return due & Q(attempts__lt=max_attempts)


def _webhook_claim(
    *, delivery_id: int, token: str, policy: WebhookPolicy
) -> WebhookDelivery | None:
    now = timezone.now()
    # Longer than one attempt can take, so a live sender never loses its claim.
    lease = timedelta(seconds=3 * policy.timeout + 30)
    # One conditional UPDATE is the claim: on PostgreSQL a second claimer waits on the row lock,
    # then finds the row no longer claimable; SQLite runs writes one at a time. No related-table
    # condition here: Django would move the whole WHERE into a subquery PostgreSQL does not
    # re-check after the lock wait.
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            _webhook_claimable(now, policy.max_attempts), pk=delivery_id
        ).update(
            status=WebhookDelivery.Status.SENDING,
            claim_token=token,
            claimed_until=now + lease,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            updated_at=now,
        )
    if not claimed:
        return None
    # None if the endpoint (and with it the delivery) was removed just now.
    return WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()


def webhook_delivery_send(*, delivery_id: int) -> WebhookDelivery | None:
    """Send one due delivery if no other sender holds it; raise WebhookDeliveryRetry when it
    failed for a transient reason and has attempts left. None if it was not due (or gone)."""
    policy = webhook_policy()
    token = uuid.uuid4().hex
    delivery = _webhook_claim(delivery_id=delivery_id, token=token, policy=policy)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    owned = WebhookDelivery.objects.filter(
        pk=delivery.pk, claim_token=token, status=WebhookDelivery.Status.SENDING
    )
    done = {"claim_token": "", "claimed_until": None, "updated_at": timezone.now()}
    if not endpoint.is_active:
        owned.update(
            status=WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            last_error="the endpoint is disabled",
            **done,
        )
        return delivery
    body = webhook_body(
        event_type=delivery.event_type, timestamp=delivery.created_at, data=delivery.payload
    )
    honoured = (
        [endpoint.previous_secret]
        if endpoint.previous_secret
        and endpoint.previous_secret_until is not None
        and endpoint.previous_secret_until > timezone.now()
        else []
    )
    result = webhook_post(
        url=endpoint.url,
        secret=endpoint.secret,
        message_id=delivery.event_id,
        body=body,
        allow=endpoint_allow_list(),
        timeout=policy.timeout,
        also_sign_with=honoured,
    )
    now = timezone.now()
    done["updated_at"] = now
    logger.info(
        "webhook delivery %s (%s) attempt %s to endpoint %s: %s",
        delivery.pk,
        delivery.event_type,
        delivery.attempts,
        endpoint.pk,
        "delivered" if result.ok else (result.error.split(":", 1)[0] or "failed"),
    )
    outcome = {"last_status_code": result.status_code, "last_error": result.error}
    if result.ok:
        owned.update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=now,
            next_attempt_at=None,
            **outcome,
            **done,
        )
        return delivery
    if result.transient and delivery.attempts < policy.max_attempts:
        delay = webhook_backoff_delay(delivery.attempts, policy, result.retry_after)
        owned.update(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at=now + timedelta(seconds=delay),
            **outcome,
            **done,
        )
        raise WebhookDeliveryRetry(delay)
    if result.transient:
        outcome["last_error"] = f"{result.error} (gave up after {delivery.attempts} attempts)"[:500]
    owned.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None, **outcome, **done)
    return delivery


def webhook_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Send again the deliveries that are due and not in flight, whose message was lost or whose
    sender died (beat); fail those whose sender died on their last attempt. How many were sent."""
    now = now or timezone.now()
    policy = webhook_policy()
    WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING,
        claimed_until__lt=now,
        attempts__gte=policy.max_attempts,
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        claim_token="",
        claimed_until=None,
        last_error=f"the sender stopped during the last attempt ({policy.max_attempts})",
        updated_at=now,
    )
    # A pending delivery's own message (or its retry) fires at next_attempt_at: only one left
    # untouched for the grace period after that was lost.
    grace = timedelta(seconds=float(settings.SEAL_WEBHOOK_SWEEP_GRACE_SECONDS))
    lost = Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now - grace) | Q(
        status=WebhookDelivery.Status.SENDING, claimed_until__lt=now
    )
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.filter(lost, attempts__lt=policy.max_attempts)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:1000]
        )
        for delivery_id in due:
            _webhook_enqueue(delivery_id)
    return len(due)


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> bool:
    """Staff: send a finished (delivered or failed) delivery again, with a fresh set of attempts.
    False when it is still pending or being sent."""
    now = timezone.now()
    with transaction.atomic():
        reset = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status__in=[WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED],
        ).update(
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            delivered_at=None,
            claim_token="",
            claimed_until=None,
            updated_at=now,
        )
        if reset:
            _webhook_enqueue(delivery.pk)
    return bool(reset)


def _submission_collected_emit(*, submission: Submission, progress: SubmissionProgress) -> None:
    """The lab's `submission.collected` event (counts only: no prompt or answer text)."""
    model_version = submission.model_version
    finished = submission.collection_finished_at or timezone.now()
    # Counts only, well under the payload cap; the emit checks its input before writing.
    webhook_event_emit(
        lab=model_version.lab,
        event_type=WebhookEndpoint.EventType.SUBMISSION_COLLECTED,
        # One event per finished collection: a retried collection that finishes again is news.
        event_id=f"evt_submission_{submission.pk}_collected_{int(finished.timestamp() * 1e6)}",
        payload={
            "submission_id": submission.pk,
            "model_version_id": model_version.pk,
            "model_version": str(model_version),
            "domains": sorted(submission.domains.values_list("slug", flat=True)),
            "status": submission.status,
            "prompts_total": progress.total,
            "responses_collected": progress.collected,
            "responses_failed": progress.failed,
            "collection_finished_at": finished.isoformat(),
        },
    )
