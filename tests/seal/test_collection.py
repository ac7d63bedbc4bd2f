"""Response collection against a real local chat-completions server."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from celery import shared_task
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from seal.models import CollectionLease, PromptExposure, Response, Submission
from seal.services import (
    CollectionLeaseBusy,
    collection,
    lab_responses_collect,
    prompt_exposures_record,
    responses_retry_failed,
    submission_cancel,
    submission_create,
)
from seal.tasks import lab_responses_collect_task
from tests.builders import domain_with_prompts, model_on
from tests.factories import LabFactory
from tests.support import require_postgres

pytestmark = pytest.mark.django_db

HANDED_OVER: list[int] = []


@shared_task(name="tests.seal.record_handover")
def record_handover(submission_id: int) -> None:
    HANDED_OVER.append(submission_id)


def submit(model_version, *domains) -> Submission:
    return submission_create(model_version=model_version, domains=[d.slug for d in domains])


def test_a_collection_stores_one_answer_per_prompt_and_hands_over_by_task_name(
    fake_endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(
        collection, "COMPARISONS_SCHEDULE_FOR_SUBMISSION", "tests.seal.record_handover"
    )
    HANDED_OVER.clear()
    domain, _ = domain_with_prompts(12)
    model_version = model_on(fake_endpoint, "ok", api_secret="sk-lab-secret")
    with django_capture_on_commit_callbacks(execute=True):
        submission = submit(model_version, domain)

    submission.refresh_from_db()
    assert submission.status == Submission.Status.COLLECTED
    assert submission.collection_started_at and submission.collection_finished_at
    assert "12 of 12 answers collected" in submission.status_detail
    responses = Response.objects.filter(model_version=model_version)
    assert responses.count() == 12
    assert set(responses.values_list("status", flat=True)) == {Response.Status.OK}
    assert all(r.text.startswith("Answer ") and r.attempts == 1 for r in responses)
    assert not responses.filter(lab_previously_exposed=True).exists()
    assert PromptExposure.objects.filter(lab=model_version.lab).count() == 12
    assert set(fake_endpoint.prompt_counts("ok").values()) == {1}
    assert {seen.authorization for seen in fake_endpoint.calls_for("ok")} == {
        "Bearer sk-lab-secret"
    }
    assert [submission.pk] == HANDED_OVER


def test_concurrency_per_lab_is_bounded(fake_endpoint, settings):
    settings.SEAL_COLLECTION_CONCURRENCY_PER_LAB = 3
    fake_endpoint.latency = 0.05
    domain, _ = domain_with_prompts(15)
    model_version = model_on(fake_endpoint, "ok-bounded")
    submit(model_version, domain)
    lab_responses_collect(lab=model_version.lab)
    assert fake_endpoint.max_in_flight["ok-bounded"] == 3
    assert Response.objects.filter(status=Response.Status.OK).count() == 15


def test_collecting_twice_or_redelivered_sends_nothing_twice(fake_endpoint):
    domain, _ = domain_with_prompts(6)
    model_version = model_on(fake_endpoint, "ok")
    submission = submit(model_version, domain)
    lab_responses_collect(lab=model_version.lab)
    # A redelivered task, or a second one: the submission is done, nothing is sent again.
    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.COLLECTING)
    report = lab_responses_collect(lab=model_version.lab)
    lab_responses_collect_task.delay(model_version.lab_id)
    assert report.sent == 0
    assert Response.objects.count() == 6
    assert set(fake_endpoint.prompt_counts("ok").values()) == {1}
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.COLLECTED


def test_a_dead_collectors_work_is_taken_over_once_its_lease_lapses(fake_endpoint):
    domain, prompt_set = domain_with_prompts(5)
    model_version = model_on(fake_endpoint, "ok")
    submission = submit(model_version, domain)
    first, *_ = prompt_set.prompts.all()
    # The dead collector had claimed one prompt (exposure + pending row) and held the lease.
    prompt_exposures_record(
        model_version=model_version, prompt_ids=[first.pk], submission=submission
    )
    Response.objects.create(model_version=model_version, prompt=first, submission=submission)
    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.COLLECTING)
    CollectionLease.objects.create(
        lab=model_version.lab, holder="dead", expires_at=timezone.now() + timedelta(seconds=60)
    )
    with pytest.raises(CollectionLeaseBusy) as busy:
        lab_responses_collect(lab=model_version.lab)
    assert 1 <= busy.value.retry_in <= 61
    lab_responses_collect_task.delay(model_version.lab_id)  # eager: logs and returns
    assert fake_endpoint.requests == []

    CollectionLease.objects.filter(lab=model_version.lab).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    lab_responses_collect(lab=model_version.lab)
    assert Response.objects.filter(status=Response.Status.OK).count() == 5
    assert set(fake_endpoint.prompt_counts("ok").values()) == {1}
    assert not Response.objects.filter(lab_previously_exposed=True).exists()
    lease = CollectionLease.objects.get(lab=model_version.lab)
    assert lease.holder == "" and lease.expires_at is None


def test_429_is_retried_after_the_servers_retry_after(fake_endpoint):
    fake_endpoint.retry_after = "1"
    domain, _ = domain_with_prompts(2)
    model_version = model_on(fake_endpoint, "flaky")
    submit(model_version, domain)
    lab_responses_collect(lab=model_version.lab)
    assert set(Response.objects.values_list("status", "attempts")) == {(Response.Status.OK, 2)}
    # The server saw each prompt twice, the second time no sooner than its Retry-After allowed.
    calls: dict[str, list[float]] = {}
    for seen in fake_endpoint.calls_for("flaky"):
        calls.setdefault(seen.prompt, []).append(seen.at)
    assert len(calls) == 2
    assert all(len(times) == 2 and times[1] - times[0] >= 1.0 for times in calls.values())


def test_500s_are_retried_a_bounded_number_of_times_then_failed(fake_endpoint, settings):
    settings.SEAL_COLLECTION_MAX_ATTEMPTS = 3
    domain, _ = domain_with_prompts(4)
    model_version = model_on(fake_endpoint, "error")
    submission = submit(model_version, domain)
    lab_responses_collect(lab=model_version.lab)
    assert set(fake_endpoint.prompt_counts("error").values()) == {3}
    failed = Response.objects.filter(status=Response.Status.FAILED)
    assert failed.count() == 4
    assert all(r.error.startswith("http_500: HTTP 500") and r.attempts == 3 for r in failed)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert "http_500 (4)" in submission.status_detail


def test_a_hanging_endpoint_times_out_within_the_limit(fake_endpoint, settings):
    settings.SEAL_COLLECTION_TIMEOUT_SECONDS = 0.5
    settings.SEAL_COLLECTION_MAX_ATTEMPTS = 2
    settings.SEAL_COLLECTION_BACKOFF_MAX_SECONDS = 0.1
    domain, _ = domain_with_prompts(4)
    model_version = model_on(fake_endpoint, "hang")
    submit(model_version, domain)
    lab_responses_collect(lab=model_version.lab)
    # The server holds every call open for a minute; each one failing as a timeout, twice per
    # prompt with the retry no sooner than the timeout, shows the client gave up, not the server.
    assert set(Response.objects.values_list("status", flat=True)) == {Response.Status.FAILED}
    calls: dict[str, list[float]] = {}
    for seen in fake_endpoint.calls_for("hang"):
        calls.setdefault(seen.prompt, []).append(seen.at)
    assert len(calls) == 4
    assert all(len(times) == 2 and times[1] - times[0] >= 0.5 for times in calls.values())
    assert all(r.error.startswith("timeout:") for r in Response.objects.all())


def test_slow_answers_inside_the_timeout_are_kept(fake_endpoint):
    fake_endpoint.slow_seconds = 0.3
    domain, _ = domain_with_prompts(3)
    model_version = model_on(fake_endpoint, "slow")
    submit(model_version, domain)
    lab_responses_collect(lab=model_version.lab)
    latencies = list(Response.objects.values_list("latency_ms", flat=True))
    assert all(latency is not None and latency >= 300 for latency in latencies)


def test_redirects_and_non_completions_fail_without_retrying(fake_endpoint):
    domain, _ = domain_with_prompts(2)
    redirecting = model_on(fake_endpoint, "redirect")
    garbage = model_on(fake_endpoint, "garbage", lab=redirecting.lab)
    submit(redirecting, domain)
    submit(garbage, domain)
    lab_responses_collect(lab=redirecting.lab)
    errors = dict(Response.objects.values_list("model_version_id", "error").distinct())
    assert errors[redirecting.pk].startswith("redirect: HTTP 307")
    assert errors[garbage.pk].startswith("invalid_response:")
    assert len(fake_endpoint.calls_for("redirect")) == 2


def test_a_prompt_the_lab_had_already_seen_is_flagged(fake_endpoint):
    domain, prompt_set = domain_with_prompts(3)
    lab = LabFactory.create()
    earlier_model = model_on(fake_endpoint, "ok-old", lab=lab)
    seen_prompt = prompt_set.prompts.get(external_id="p0")
    prompt_exposures_record(
        model_version=earlier_model,
        prompt_ids=[seen_prompt.pk],
        at=timezone.now() - timedelta(days=3),
    )
    model_version = model_on(fake_endpoint, "ok-new", lab=lab)
    submit(model_version, domain)
    lab_responses_collect(lab=lab)
    flagged = set(
        Response.objects.filter(lab_previously_exposed=True).values_list("prompt_id", flat=True)
    )
    assert flagged == {seen_prompt.pk}
    assert PromptExposure.objects.get(prompt=seen_prompt).model_version == earlier_model


def test_cancelling_stops_further_calls(fake_endpoint, settings, monkeypatch):
    settings.SEAL_COLLECTION_CONCURRENCY_PER_LAB = 2
    fake_endpoint.latency = 0.2
    domain, _ = domain_with_prompts(40)
    model_version = model_on(fake_endpoint, "ok")
    submission = submit(model_version, domain)
    original_claim = collection._responses_claim
    claims = []

    def claim_then_cancel(**kwargs):
        claims.append(kwargs["prompt_ids"])
        if len(claims) == 2:
            submission_cancel(submission=Submission.objects.get(pk=submission.pk))
        return original_claim(**kwargs)

    monkeypatch.setattr(collection, "_responses_claim", claim_then_cancel)
    lab_responses_collect(lab=model_version.lab)
    # Cancelled after the first few batches, noticed within half a second: at most a few more
    # calls went out, nowhere near the 40 the submission had.
    sent = len(fake_endpoint.calls_for("ok"))
    assert sent <= 20
    assert Response.objects.filter(status=Response.Status.OK).count() == sent
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.CANCELLED


def test_staff_retry_failed_responses(fake_endpoint, admin_client):
    domain, _ = domain_with_prompts(3)
    model_version = model_on(fake_endpoint, "error")
    submission = submit(model_version, domain)
    lab_responses_collect(lab=model_version.lab)
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.FAILED

    # The lab fixed its endpoint.
    model_version.model_id = "ok-fixed"
    model_version.save()
    failed = Response.objects.filter(status=Response.Status.FAILED)
    outcome = responses_retry_failed(responses=failed[:1])
    assert (outcome.retried, outcome.skipped) == (1, 0)
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.COLLECTING
    lab_responses_collect(lab=model_version.lab)
    assert Response.objects.filter(status=Response.Status.OK).count() == 1
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.COLLECTED

    response = admin_client.post(
        reverse("admin:seal_response_changelist"),
        {
            "action": "retry_failed",
            "_selected_action": list(failed.values_list("pk", flat=True)),
        },
        follow=True,
    )
    assert "2 failed response(s) will be collected again" in response.content.decode()
    lab_responses_collect(lab=model_version.lab)
    assert Response.objects.filter(status=Response.Status.OK).count() == 3


def test_a_budget_used_up_hands_the_rest_to_a_new_task(fake_endpoint, settings, monkeypatch):
    settings.SEAL_COLLECTION_CONCURRENCY_PER_LAB = 2
    fake_endpoint.latency = 0.1
    domain, _ = domain_with_prompts(10)
    model_version = model_on(fake_endpoint, "ok")
    submission = submit(model_version, domain)
    enqueued = []
    monkeypatch.setattr(
        collection, "_lab_collection_enqueue", lambda *, lab_id: enqueued.append(lab_id)
    )
    report = lab_responses_collect(lab=model_version.lab, budget_seconds=0.15)
    assert report.budget_exhausted
    assert enqueued == [model_version.lab_id]
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.COLLECTING
    lab_responses_collect(lab=model_version.lab)
    assert Response.objects.filter(status=Response.Status.OK).count() == 10
    assert set(fake_endpoint.prompt_counts("ok").values()) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_hanging_lab_does_not_stall_another(fake_endpoint, settings, monkeypatch):
    # Two collectors write at once: SQLite's shared in-memory test database cannot take that.
    require_postgres()
    settings.SEAL_COLLECTION_TIMEOUT_SECONDS = 3.0
    settings.SEAL_COLLECTION_MAX_ATTEMPTS = 1
    fake_endpoint.latency = 0.05
    domain, _ = domain_with_prompts(8)
    hanging = model_on(fake_endpoint, "hang")
    good = model_on(fake_endpoint, "ok-good")
    # Autocommit would run each collection eagerly inside submit; here they run side by side.
    monkeypatch.setattr(collection, "_lab_collection_enqueue", lambda *, lab_id: None)
    submit(hanging, domain)
    submit(good, domain)
    finished: dict[str, float] = {}
    finish_order: list[str] = []
    errors: list[BaseException] = []

    def collect(lab, name):
        started = time.monotonic()
        try:
            lab_responses_collect(lab=lab)
        except BaseException as exc:
            errors.append(exc)
        finally:
            finished[name] = time.monotonic() - started
            finish_order.append(name)
            connection.close()

    threads = [
        threading.Thread(target=collect, args=(hanging.lab, "hanging")),
        threading.Thread(target=collect, args=(good.lab, "good")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    # The healthy lab's 8 short calls finish while the other lab's calls still hang (they end
    # only at the 3 s timeout): an order of events, not a wall-clock bound on a shared machine.
    assert finish_order == ["good", "hanging"]
    assert finished["hanging"] >= 3.0
    assert Response.objects.filter(model_version=good, status=Response.Status.OK).count() == 8
    assert Submission.objects.get(model_version=good).status == Submission.Status.COLLECTED


def test_beat_resumes_labs_whose_collector_is_gone(fake_endpoint, monkeypatch):
    domain, _ = domain_with_prompts(2)
    waiting = model_on(fake_endpoint, "ok")
    busy = model_on(fake_endpoint, "ok-busy")
    enqueued: list[int] = []
    monkeypatch.setattr(
        collection, "_lab_collection_enqueue", lambda *, lab_id: enqueued.append(lab_id)
    )
    submit(waiting, domain)
    submit(busy, domain)
    CollectionLease.objects.create(
        lab=busy.lab, holder="alive", expires_at=timezone.now() + timedelta(seconds=60)
    )
    CollectionLease.objects.create(
        lab=waiting.lab, holder="dead", expires_at=timezone.now() - timedelta(seconds=1)
    )
    enqueued.clear()
    assert collection.collections_resume() == [waiting.lab_id]
    assert enqueued == [waiting.lab_id]
