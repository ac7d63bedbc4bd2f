"""Submissions and response collection: one collector per lab calls its endpoints, keeps answers."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from seal.endpoints import (
    INTERRUPTED,
    CallPolicy,
    ChatCall,
    ChatResult,
    EndpointClient,
    completions_url,
)
from seal.errors import ApplicationError
from seal.models import (
    CollectionLease,
    Domain,
    Lab,
    ModelVersion,
    Prompt,
    PromptSet,
    Response,
    Submission,
    WebhookEndpoint,
)
from seal.rendering import AnswerRenderer
from seal.selectors import (
    SubmissionProgress,
    lab_collecting_submission_ids,
    lab_ids_needing_collection,
    response_failure_kinds,
    submission_progress,
    submission_prompt_ids_to_send,
)
from seal.services.labs import endpoint_allow_list
from seal.services.responses import (
    _clean_text,
    answer_render_limits,
    prompt_exposures_record,
    response_styles_record,
)
from seal.services.webhooks import webhook_event_emit
from seal.task_names import COMPARISONS_SCHEDULE_FOR_SUBMISSION, LAB_RESPONSES_COLLECT
from seal.tasking import task_send_on_commit

logger = logging.getLogger(__name__)


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


def submission_cancel(*, submission: Submission, by_staff: bool = False) -> Submission:
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
        locked.status_detail = "Cancelled by SEAL staff." if by_staff else "Cancelled by the lab."
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
    task_send_on_commit(LAB_RESPONSES_COLLECT, lab_id)


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
            task_send_on_commit(COMPARISONS_SCHEDULE_FOR_SUBMISSION, locked.pk)
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


def _collection_call_policy() -> CallPolicy:
    """Timeout, attempts, backoff and answer size of endpoint calls (SEAL_COLLECTION_*)."""
    return CallPolicy(
        timeout=float(settings.SEAL_COLLECTION_TIMEOUT_SECONDS),
        max_attempts=max(1, settings.SEAL_COLLECTION_MAX_ATTEMPTS),
        backoff_base=float(settings.SEAL_COLLECTION_BACKOFF_BASE_SECONDS),
        backoff_max=float(settings.SEAL_COLLECTION_BACKOFF_MAX_SECONDS),
        max_response_bytes=settings.SEAL_COLLECTION_MAX_RESPONSE_BYTES,
    )


# How often the collecting thread looks for cancelled and newly made submissions.
_STATUS_CHECK_SECONDS = 0.5
# How long one wait for a call to finish lasts before the loop looks around again.
_CALL_WAIT_SECONDS = 0.25
# The longest finished results wait before they are written.
_STORE_EVERY_SECONDS = 0.25


class _Collector:
    """One lab's collection. This (the calling) thread claims prompts a batch at a time, hands
    them to a pool of threads as slots free up, and writes results in batches; pool threads only
    speak HTTP and never touch the database.

    `run` repeats one turn (`_turn`) until nothing is left: keep the lease, notice cancelled and
    new submissions, stop at the deadline, claim and send, store results, close finished
    submissions, wait for a call to come back."""

    def __init__(self, *, lab: Lab, holder: str, budget_seconds: float) -> None:
        self.lab = lab
        self.holder = holder
        self.concurrency = max(1, settings.SEAL_COLLECTION_CONCURRENCY_PER_LAB)
        self.lease_seconds = float(settings.SEAL_COLLECTION_LEASE_SECONDS)
        self.deadline = time.monotonic() + budget_seconds
        self.policy = _collection_call_policy()
        self.renderer = AnswerRenderer(answer_render_limits())
        self.report = CollectionReport()
        self.runs: list[_SubmissionRun] = []
        self.ready: deque[tuple[_SubmissionRun, ChatCall]] = deque()
        self.in_flight: dict[Future[_CallOutcome], _SubmissionRun] = {}
        self.unstored: list[_CallOutcome] = []
        self.last_store = time.monotonic()
        self.last_status_check = self.last_lease_renewal = self.last_store
        self.seen_submission_ids: set[int] = set()

    @property
    def stopped(self) -> bool:
        return self.report.lease_lost or self.report.budget_exhausted

    def run(self) -> CollectionReport:
        """Collect until every submission is done, the budget is spent or the lease is lost."""
        self._take_new_submissions()
        self.last_status_check = self.last_lease_renewal = time.monotonic()
        with EndpointClient(
            policy=self.policy, allow=endpoint_allow_list(), max_connections=self.concurrency
        ) as client:
            pool = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix=f"collect-lab-{self.lab.pk}"
            )
            try:
                while self._turn(pool, client):
                    pass
                self._store_results(force=True)
            finally:
                pool.shutdown(wait=not self.in_flight, cancel_futures=True)
                self.renderer.close()
        return self.report

    def _turn(self, pool: ThreadPoolExecutor, client: EndpointClient) -> bool:
        """One turn of the collecting loop; False when the collection is over."""
        now = time.monotonic()
        self._renew_lease_when_due(now)
        self._check_submissions_when_due(now)
        self._stop_at_deadline(now)
        if not self.stopped:
            self._claim_ahead()
            self._send_ready_calls(pool, client)
        self._store_results(force=not self.in_flight)
        if not self.report.lease_lost:
            self._close_finished_submissions()
        if not self.in_flight:
            return not self.stopped and any(run.has_work for run in self.runs)
        self._wait_for_calls(pool, client)
        return True

    # --- Keeping the lease and the list of submissions --------------------------------------

    def _renew_lease_when_due(self, now: float) -> None:
        """Renew the lab's lease every third of its length; stop everything if it was lost."""
        if now - self.last_lease_renewal < self.lease_seconds / 3:
            return
        self.last_lease_renewal = now
        if not _collection_lease_renew(
            lab=self.lab, holder=self.holder, seconds=self.lease_seconds
        ):
            logger.warning("lab %s: collection lease lost; stopping", self.lab.pk)
            self.report.lease_lost = True
            self._stop(self.runs)

    def _check_submissions_when_due(self, now: float) -> None:
        """Every half second: drop submissions no longer collecting, take up new ones."""
        if now - self.last_status_check < _STATUS_CHECK_SECONDS:
            return
        self.last_status_check = now
        self._drop_submissions_not_collecting()
        if not self.stopped:
            self._take_new_submissions()  # submissions made while this collector runs

    def _stop_at_deadline(self, now: float) -> None:
        """Once the budget is spent, stop claiming and sending (the rest goes to a new task)."""
        if now >= self.deadline and not self.report.budget_exhausted:
            self.report.budget_exhausted = any(not r.finished for r in self.runs)
            self._stop(self.runs)

    def _take_new_submissions(self) -> None:
        """Start collecting the lab's waiting submissions this collector has not seen yet."""
        for pk in lab_collecting_submission_ids(lab=self.lab):
            if pk in self.seen_submission_ids:
                continue
            self.seen_submission_ids.add(pk)
            submission = submission_collection_start(submission=Submission.objects.get(pk=pk))
            if submission is not None:
                to_send = deque(submission_prompt_ids_to_send(submission=submission))
                self.runs.append(_SubmissionRun(submission, to_send))

    def _drop_submissions_not_collecting(self) -> None:
        """Stop the runs whose submission was cancelled (or otherwise left collecting)."""
        open_runs = {run.submission.pk: run for run in self.runs if not run.finished}
        if not open_runs:
            return
        statuses = dict(Submission.objects.filter(pk__in=open_runs).values_list("pk", "status"))
        gone = [run for pk, run in open_runs.items() if statuses.get(pk) != "collecting"]
        self._stop(gone)
        for run in gone:
            run.finished = True

    def _stop(self, runs: Iterable[_SubmissionRun]) -> None:
        """Send nothing more for these runs: drop their unsent prompts, interrupt their calls."""
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

    # --- Claiming and calling ---------------------------------------------------------------

    def _claim_ahead(self) -> None:
        """Claim prompts until twice the concurrency is ready to send, if fewer than one
        concurrency's worth is."""
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

    def _send_ready_calls(self, pool: ThreadPoolExecutor, client: EndpointClient) -> None:
        """Hand claimed calls to the pool while it has a free slot."""
        while self.ready and len(self.in_flight) < self.concurrency:
            run, call = self.ready.popleft()
            run.ready -= 1
            future = pool.submit(self._call_and_render, client, call, run)
            self.in_flight[future] = run
            run.outstanding += 1
            self.report.sent += 1

    def _call_and_render(
        self, client: EndpointClient, call: ChatCall, run: _SubmissionRun
    ) -> _CallOutcome:
        """In a pool thread: the HTTP call, then the answer's HTML."""
        # Rendered by the renderer's child process while this thread waits (the collecting
        # thread never renders).
        result = client.complete(call, sleep=run.stop.wait, should_stop=run.stop.is_set)
        html = ""
        if result.ok:
            try:
                html = self.renderer.render(result.text).html
            except Exception:  # the answer is kept all the same; pages show it escaped
                logger.exception("lab %s: rendering an answer failed", self.lab.pk)
        return _CallOutcome(run.submission.model_version_id, result, html)

    def _wait_for_calls(self, pool: ThreadPoolExecutor, client: EndpointClient) -> None:
        """Wait a moment for calls to come back, take their outcomes, refill the freed slots."""
        done, _ = wait(
            list(self.in_flight), timeout=_CALL_WAIT_SECONDS, return_when=FIRST_COMPLETED
        )
        self._take_outcomes(done)
        if not self.stopped:
            self._send_ready_calls(pool, client)  # refill freed slots before any database work

    def _take_outcomes(self, done: Iterable[Future[_CallOutcome]]) -> None:
        """Count finished calls and queue their outcomes to be stored."""
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

    # --- Storing and finishing --------------------------------------------------------------

    def _store_results(self, *, force: bool = False) -> None:
        """Write the queued outcomes when forced, when half the concurrency's worth waits, or
        when they have waited long enough."""
        now = time.monotonic()
        due = (
            len(self.unstored) >= max(1, self.concurrency // 2)
            or now - self.last_store >= _STORE_EVERY_SECONDS
        )
        if self.unstored and (force or due):
            _collection_results_store(outcomes=self.unstored)
            self.unstored = []
            self.last_store = now

    def _close_finished_submissions(self) -> None:
        """Finish the collection of each submission with nothing left to claim, send or store."""
        done = [
            run
            for run in self.runs
            if not run.finished and not run.to_send and not run.ready and not run.outstanding
        ]
        if not done:
            return
        self._store_results(force=True)
        for run in done:
            run.finished = True
            finished = submission_collection_finish(submission=run.submission)
            if finished.status != Submission.Status.COLLECTING:
                self.report.finished_submission_ids.append(finished.pk)


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
