"""Lab webhooks: signed as Standard Webhooks specifies, retried with backoff, sent once per event,
given up on, and wired where collection finishes and results are published. Every message goes to
a real local HTTP server that verifies it with the reference library."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from leaderboards.services import leaderboards_publish_now
from seal.errors import ApplicationError
from seal.models import Lab, Submission, WebhookDelivery, WebhookEndpoint
from seal.services import (
    WebhookDeliveryRetry,
    submission_create,
    webhook_deliveries_sweep,
    webhook_delivery_resend,
    webhook_delivery_send,
    webhook_endpoint_create,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_test,
    webhook_endpoint_update,
    webhook_event_emit,
    webhook_policy,
)
from seal.webhooks import (
    WebhookPolicy,
    webhook_backoff_delay,
    webhook_body,
    webhook_headers,
    webhook_secret_generate,
)
from tests.builders import PRIVATE_MARKER, domain_with_prompts, leaderboard_world, model_on
from tests.factories import LabFactory
from tests.fake_webhook_receiver import WebhookReceiver
from tests.support import require_postgres

pytestmark = pytest.mark.django_db

COMPLETED = WebhookEndpoint.EventType.SUBMISSION_COMPLETED
COLLECTED = WebhookEndpoint.EventType.SUBMISSION_COLLECTED
PUBLISHED = WebhookEndpoint.EventType.RESULTS_PUBLISHED


@pytest.fixture
def receiver(settings) -> Iterator[WebhookReceiver]:
    """A verifying receiver, allowed past the address guard as a lab endpoint would be."""
    settings.SEAL_WEBHOOK_TIMEOUT_SECONDS = 2.0
    settings.SEAL_WEBHOOK_MAX_ATTEMPTS = 4
    settings.SEAL_WEBHOOK_BACKOFF_BASE_SECONDS = 30.0
    settings.SEAL_WEBHOOK_SWEEP_GRACE_SECONDS = 60.0
    with WebhookReceiver(failures=2, hold_seconds=10) as server:
        settings.SEAL_ENDPOINT_ALLOWED_HOSTS = [server.address]
        yield server


def hook(
    receiver: WebhookReceiver, lab: Lab, path: str, events: list[str] | None = None
) -> WebhookEndpoint:
    endpoint = webhook_endpoint_create(lab=lab, url=receiver.url(path), event_types=events)
    receiver.secrets[path] = endpoint.secret
    return endpoint


def emit(lab: Lab, event_id: str = "evt_1", event_type: str = COMPLETED, **data) -> list:
    return webhook_event_emit(
        lab=lab, event_type=event_type, event_id=event_id, payload=data or {"submission_id": 7}
    )


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def fresh(delivery: WebhookDelivery) -> WebhookDelivery:
    return WebhookDelivery.objects.get(pk=delivery.pk)


# --- Signing -------------------------------------------------------------------------------------


def test_the_signature_matches_the_specs_published_example():
    """The example of the Standard Webhooks specification (spec/standard-webhooks.md)."""
    headers = webhook_headers(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        body='{"test": 2432232314}',
        at=datetime.fromtimestamp(1614265330, tz=UTC),
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_secrets_are_whsec_and_32_random_bytes():
    secrets = {webhook_secret_generate() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_the_body_is_the_same_bytes_for_the_same_event():
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    body = webhook_body(event_type=COMPLETED, timestamp=at, data={"b": 1, "a": "é"})
    assert body == webhook_body(event_type=COMPLETED, timestamp=at, data={"a": "é", "b": 1})
    assert body == (
        '{"data":{"a":"\\u00e9","b":1},"timestamp":"2026-12-01T12:00:00Z",'
        '"type":"submission.completed"}'
    )


def test_a_delivery_arrives_signed_and_verifies(receiver, django_capture_on_commit_callbacks):
    lab = LabFactory.create()
    endpoint = hook(receiver, lab, "/ok")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab, "evt_sub_7_completed", submission_id=7, reason="precision")

    [got] = receiver.to("/ok")
    assert got.verified
    # Verified again here, independently of the server, with the secret the lab was given.
    message = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert message["type"] == "submission.completed"
    assert message["data"] == {"submission_id": 7, "reason": "precision"}
    assert got.webhook_id == "evt_sub_7_completed"
    assert got.headers["content-type"] == "application/json"
    signature = got.headers["webhook-signature"]
    assert signature.startswith("v1,")
    assert endpoint.secret not in repr(got.headers)
    # Another secret does not verify it.
    with pytest.raises(Exception, match="signature"):
        Webhook(webhook_secret_generate()).verify(got.body, got.headers)
    delivery = fresh(delivery)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 204, "")
    assert delivery.delivered_at is not None


# --- Retries -------------------------------------------------------------------------------------


def test_the_backoff_doubles_with_jitter_up_to_its_cap():
    policy = WebhookPolicy(timeout=1, max_attempts=10, backoff_base=30, backoff_max=4 * 3600)
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (9, 7680), (12, 4 * 3600)]:
        delays = {webhook_backoff_delay(attempt, policy, None) for _ in range(50)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), (attempt, delays)
        assert len(delays) > 1  # jittered
    assert webhook_backoff_delay(1, policy, retry_after=600) >= 600
    assert webhook_backoff_delay(1, policy, retry_after=10**9) == 4 * 3600


def test_a_delivery_is_retried_after_500s_then_delivered(
    receiver, django_capture_on_commit_callbacks
):
    lab = LabFactory.create()
    hook(receiver, lab, "/flaky")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    first = fresh(delivery)
    assert first.status == WebhookDelivery.Status.PENDING
    assert (first.attempts, first.last_status_code) == (1, 500)
    assert first.last_error == 'HTTP 500: {"error": "boom"}'
    assert first.next_attempt_at is not None
    assert first.last_attempt_at is not None
    wait = (first.next_attempt_at - first.last_attempt_at).total_seconds()
    assert 15 <= wait <= 30.1  # the first backoff: 30 s, half of it jitter

    # Not due yet: nothing is sent.
    assert webhook_delivery_send(delivery_id=delivery.pk) is None
    assert len(receiver.to("/flaky")) == 1

    make_due(delivery)
    with pytest.raises(WebhookDeliveryRetry) as retry:
        webhook_delivery_send(delivery_id=delivery.pk)
    assert 30 <= retry.value.retry_in <= 60
    make_due(delivery)
    webhook_delivery_send(delivery_id=delivery.pk)

    done = fresh(delivery)
    assert done.status == WebhookDelivery.Status.DELIVERED
    assert (done.attempts, done.last_status_code, done.last_error) == (3, 204, "")
    got = receiver.to("/flaky")
    assert len(got) == 3
    assert {seen.webhook_id for seen in got} == {"evt_1"}
    assert len({seen.body for seen in got}) == 1  # every attempt sends the same message
    assert all(seen.verified for seen in got)


def test_a_429_is_retried_no_sooner_than_its_retry_after(
    receiver, django_capture_on_commit_callbacks
):
    lab = LabFactory.create()
    hook(receiver, lab, "/throttle")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    assert fresh(delivery).last_status_code == 429
    make_due(delivery)
    webhook_delivery_send(delivery_id=delivery.pk)
    assert fresh(delivery).status == WebhookDelivery.Status.DELIVERED


def test_it_gives_up_after_the_maximum_number_of_attempts(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.SEAL_WEBHOOK_MAX_ATTEMPTS = 3
    lab = LabFactory.create()
    hook(receiver, lab, "/down")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    make_due(delivery)
    with pytest.raises(WebhookDeliveryRetry):
        webhook_delivery_send(delivery_id=delivery.pk)
    make_due(delivery)
    webhook_delivery_send(delivery_id=delivery.pk)  # the last: no retry

    failed = fresh(delivery)
    assert failed.status == WebhookDelivery.Status.FAILED
    assert failed.attempts == 3
    assert failed.next_attempt_at is None
    assert failed.last_error.startswith("HTTP 503")
    assert "gave up after 3 attempts" in failed.last_error
    make_due(delivery)
    assert webhook_delivery_send(delivery_id=delivery.pk) is None
    assert webhook_deliveries_sweep(now=timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.to("/down")) == 3


def test_a_4xx_other_than_408_and_429_is_not_retried(receiver, django_capture_on_commit_callbacks):
    lab = LabFactory.create()
    hook(receiver, lab, "/gone")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    failed = fresh(delivery)
    assert (failed.status, failed.attempts, failed.last_status_code) == ("failed", 1, 410)


def test_the_secret_never_reaches_the_delivery_log(receiver, django_capture_on_commit_callbacks):
    lab = LabFactory.create()
    endpoint = hook(receiver, lab, "/leak")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    error = fresh(delivery).last_error
    assert error.startswith("HTTP 500")
    assert "[secret]" in error
    assert endpoint.secret not in error
    assert endpoint.secret.removeprefix("whsec_") not in error


# --- Once per event ------------------------------------------------------------------------------


def test_emitting_an_event_twice_sends_it_once(receiver, django_capture_on_commit_callbacks):
    lab = LabFactory.create()
    hook(receiver, lab, "/ok")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = emit(lab, "evt_same")
        second = emit(lab, "evt_same", submission_id=8)  # even with another payload
    assert len(first) == 1
    assert second == []
    assert len(callbacks) == 1
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.to("/ok")) == 1
    with django_capture_on_commit_callbacks(execute=True):
        emit(lab, "evt_other")
    assert [seen.webhook_id for seen in receiver.to("/ok")] == ["evt_same", "evt_other"]


def test_a_delivered_event_is_not_sent_again_by_the_task_or_the_sweep(
    receiver, django_capture_on_commit_callbacks
):
    lab = LabFactory.create()
    hook(receiver, lab, "/ok")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    assert webhook_delivery_send(delivery_id=delivery.pk) is None
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_sweep(now=timezone.now() + timedelta(days=1)) == 0
    assert len(receiver.to("/ok")) == 1


def test_only_active_subscribed_endpoints_of_the_lab_get_the_event(
    receiver, django_capture_on_commit_callbacks
):
    lab, other = LabFactory.create(), LabFactory.create()
    hook(receiver, lab, "/ok-all")
    hook(receiver, lab, "/ok-published", events=[PUBLISHED])
    disabled = hook(receiver, lab, "/ok-disabled")
    webhook_endpoint_update(endpoint=disabled, is_active=False)
    hook(receiver, other, "/ok-other")
    with django_capture_on_commit_callbacks(execute=True):
        emit(lab)
    assert {seen.path for seen in receiver.received} == {"/ok-all"}


def test_emit_refuses_unknown_types_bad_ids_and_non_json(receiver):
    lab = LabFactory.create()
    hook(receiver, lab, "/ok")
    with pytest.raises(ApplicationError, match="event type"):
        emit(lab, event_type="submission.exploded")
    with pytest.raises(ApplicationError, match="event id"):
        emit(lab, event_id="evt with spaces\r\n")
    with pytest.raises(ApplicationError, match="not JSON"):
        emit(lab, when=datetime.now(UTC))
    assert not WebhookDelivery.objects.exists()


# --- Concurrency: a row claim, real threads ------------------------------------------------------


def _pending(lab: Lab, receiver: WebhookReceiver, path: str, **fields) -> WebhookDelivery:
    """A delivery recorded but not sent (as when its message was lost)."""
    endpoint = hook(receiver, lab, path)
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="evt_race",
        event_type=COMPLETED,
        payload={"submission_id": 1},
        **{"next_attempt_at": timezone.now() - timedelta(minutes=5), **fields},
    )


def _in_thread(target, results: list, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_send_a_delivery_once(receiver):
    """Six senders at once; the receiver holds the first one's request until all have tried.
    PostgreSQL: its row locks are the point (the embedded SQLite default sends from one thread)."""
    require_postgres()
    lab = LabFactory.create()
    delivery = _pending(lab, receiver, "/slow")
    results: list = []
    errors: list = []
    threads = [
        _in_thread(lambda: webhook_delivery_send(delivery_id=delivery.pk), results, errors)
        for _ in range(6)
    ]
    assert receiver.arrived.wait(10)
    # The others find it claimed and return at once, while the first is still in flight.
    deadline = timezone.now() + timedelta(seconds=10)
    while len(results) + len(errors) < 5 and timezone.now() < deadline:
        threading.Event().wait(0.05)
    assert len(results) + len(errors) >= 5
    assert fresh(delivery).status == WebhookDelivery.Status.SENDING
    receiver.release.set()
    for thread in threads:
        thread.join(10)
    assert not errors, errors
    assert len(receiver.to("/slow")) == 1
    assert sum(result is not None for result in results) == 1
    done = fresh(delivery)
    assert (done.status, done.attempts) == (WebhookDelivery.Status.DELIVERED, 1)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_and_the_task_racing_send_once(receiver, settings):
    """A lost message's sweep and its late task at the same moment: one send.
    PostgreSQL: its row locks are the point; SQLite's shared-cache test database refuses a
    second thread's write at once ("database table is locked", 3 runs in 10), which the
    embedded default, sending from one thread, never meets."""
    require_postgres()
    lab = LabFactory.create()
    delivery = _pending(lab, receiver, "/slow")
    results: list = []
    errors: list = []
    task = _in_thread(lambda: webhook_delivery_send(delivery_id=delivery.pk), results, errors)
    assert receiver.arrived.wait(10)
    # While the task's request is in flight: the sweep finds it claimed, not lost.
    assert webhook_deliveries_sweep() == 0
    sweep = _in_thread(webhook_deliveries_sweep, results, errors)
    sweep.join(10)
    receiver.release.set()
    task.join(10)
    assert not errors, errors
    assert len(receiver.to("/slow")) == 1
    # Both at once, for a delivery nobody holds: the sweep's send (eager) and the task's.
    receiver.release.clear()
    receiver.arrived.clear()
    second = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event_id="evt_race_2",
        event_type=COMPLETED,
        payload={},
        next_attempt_at=timezone.now() - timedelta(minutes=5),
    )
    racers = [
        _in_thread(webhook_deliveries_sweep, results, errors),
        _in_thread(lambda: webhook_delivery_send(delivery_id=second.pk), results, errors),
    ]
    assert receiver.arrived.wait(10)
    threading.Event().wait(0.5)
    receiver.release.set()
    for racer in racers:
        racer.join(10)
    assert not errors, errors
    assert [seen.webhook_id for seen in receiver.to("/slow")] == ["evt_race", "evt_race_2"]
    assert fresh(second).attempts == 1


# --- The sweep -----------------------------------------------------------------------------------


def test_the_sweep_sends_lost_messages_and_takes_over_from_dead_senders(
    receiver, django_capture_on_commit_callbacks
):
    lab = LabFactory.create()
    lost = _pending(lab, receiver, "/ok")
    recent = WebhookDelivery.objects.create(
        endpoint=lost.endpoint,
        event_id="evt_recent",
        event_type=COMPLETED,
        payload={},
        next_attempt_at=timezone.now(),  # its own message may still be on its way
    )
    orphan = WebhookDelivery.objects.create(
        endpoint=lost.endpoint,
        event_id="evt_orphan",
        event_type=COMPLETED,
        payload={},
        status=WebhookDelivery.Status.SENDING,
        attempts=1,
        claim_token="dead",
        claimed_until=timezone.now() - timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_sweep() == 2
    assert fresh(lost).status == fresh(orphan).status == WebhookDelivery.Status.DELIVERED
    assert fresh(orphan).attempts == 2
    assert fresh(recent).status == WebhookDelivery.Status.PENDING
    assert sorted(seen.webhook_id for seen in receiver.to("/ok")) == ["evt_orphan", "evt_race"]


def test_a_sender_that_died_on_the_last_attempt_is_failed_by_the_sweep(receiver, settings):
    settings.SEAL_WEBHOOK_MAX_ATTEMPTS = 2
    lab = LabFactory.create()
    delivery = _pending(
        lab,
        receiver,
        "/ok",
        status=WebhookDelivery.Status.SENDING,
        attempts=2,
        claimed_until=timezone.now() - timedelta(seconds=1),
    )
    assert webhook_deliveries_sweep() == 0
    failed = fresh(delivery)
    assert failed.status == WebhookDelivery.Status.FAILED
    assert "last attempt" in failed.last_error
    assert receiver.received == []


def test_resend_sends_a_finished_delivery_again(receiver, django_capture_on_commit_callbacks):
    lab = LabFactory.create()
    hook(receiver, lab, "/ok")
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_delivery_resend(delivery=delivery)
    assert [seen.webhook_id for seen in receiver.to("/ok")] == ["evt_1", "evt_1"]
    assert fresh(delivery).status == WebhookDelivery.Status.DELIVERED


def test_after_a_rotation_both_secrets_verify_until_the_overlap_ends(
    receiver, settings, django_capture_on_commit_callbacks
):
    lab = LabFactory.create()
    endpoint = hook(receiver, lab, "/ok")
    old = endpoint.secret
    endpoint = webhook_endpoint_secret_rotate(endpoint=endpoint)
    assert endpoint.secret != old
    receiver.secrets["/ok"] = endpoint.secret
    with django_capture_on_commit_callbacks(execute=True):
        emit(lab, "evt_during")
    [during] = receiver.to("/ok")
    assert during.verified
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)  # a receiver not yet switched over
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_until=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        emit(lab, "evt_after")
    after = receiver.to("/ok")[1]
    assert after.verified
    assert " " not in after.headers["webhook-signature"]
    with pytest.raises(Exception, match="signature"):
        Webhook(old).verify(after.body, after.headers)


def test_without_an_overlap_a_rotation_ends_the_old_secret_at_once(receiver, settings):
    settings.SEAL_WEBHOOK_SECRET_OVERLAP_SECONDS = 0
    endpoint = webhook_endpoint_secret_rotate(endpoint=hook(receiver, LabFactory.create(), "/ok"))
    assert (endpoint.previous_secret, endpoint.previous_secret_until) == ("", None)


# --- Address guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.8/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "https://user:pw@hooks.example.com/x",
        "ftp://hooks.example.com/x",
    ],
)
def test_private_addresses_and_bad_urls_are_refused_at_registration(url):
    lab = LabFactory.create()
    with pytest.raises(ApplicationError) as refused:
        webhook_endpoint_create(lab=lab, url=url)
    assert refused.value.field_errors["url"]
    assert not WebhookEndpoint.objects.exists()


def test_an_allow_listed_local_address_is_accepted_like_a_lab_endpoint(receiver, settings):
    lab = LabFactory.create()
    assert webhook_endpoint_create(lab=lab, url=receiver.url("/ok")).pk
    settings.SEAL_ENDPOINT_ALLOWED_HOSTS = []
    with pytest.raises(ApplicationError):
        webhook_endpoint_create(lab=lab, url=receiver.url("/ok"))


def test_the_address_is_checked_again_when_sending(
    receiver, settings, django_capture_on_commit_callbacks
):
    lab = LabFactory.create()
    hook(receiver, lab, "/ok")
    settings.SEAL_ENDPOINT_ALLOWED_HOSTS = []  # no longer allowed: refused at connect time
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = emit(lab)
    failed = fresh(delivery)
    assert failed.status == WebhookDelivery.Status.FAILED
    assert failed.last_error.startswith("blocked_address")
    assert receiver.received == []


def test_a_lab_registers_at_most_the_configured_number_of_endpoints(receiver, settings):
    settings.SEAL_WEBHOOK_MAX_ENDPOINTS_PER_LAB = 2
    lab = LabFactory.create()
    hook(receiver, lab, "/ok-1")
    hook(receiver, lab, "/ok-2")
    with pytest.raises(ApplicationError, match="at most 2"):
        hook(receiver, lab, "/ok-3")


def test_a_test_event_needs_an_active_endpoint(receiver):
    lab = LabFactory.create()
    endpoint = hook(receiver, lab, "/ok")
    webhook_endpoint_update(endpoint=endpoint, is_active=False)
    with pytest.raises(ApplicationError, match="disabled"):
        webhook_endpoint_test(endpoint=endpoint)


def test_a_delivery_to_an_endpoint_disabled_meanwhile_fails_unsent(receiver):
    lab = LabFactory.create()
    delivery = _pending(lab, receiver, "/ok")
    webhook_endpoint_update(endpoint=delivery.endpoint, is_active=False)
    webhook_delivery_send(delivery_id=delivery.pk)
    assert fresh(delivery).status == WebhookDelivery.Status.FAILED
    assert receiver.received == []


# --- Wired events --------------------------------------------------------------------------------


def test_a_finished_collection_sends_submission_collected_without_prompt_text(
    receiver, fake_endpoint, settings, django_capture_on_commit_callbacks
):
    settings.SEAL_ENDPOINT_ALLOWED_HOSTS = [receiver.address, fake_endpoint.address]
    domain, _ = domain_with_prompts(3, text="SECRET-PROMPT-MARKER {i}")
    model_version = model_on(fake_endpoint, "ok")
    endpoint = hook(receiver, model_version.lab, "/ok")
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(model_version=model_version, domains=[domain.slug])
    submission.refresh_from_db()
    assert submission.status in {Submission.Status.COLLECTED, Submission.Status.COMPARING}
    [got] = receiver.to("/ok")
    message = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert message["type"] == "submission.collected"
    data = message["data"]
    assert data["submission_id"] == submission.pk
    assert data["model_version_id"] == model_version.pk
    assert data["domains"] == [domain.slug]
    assert (data["prompts_total"], data["responses_collected"], data["responses_failed"]) == (
        3,
        3,
        0,
    )
    assert b"SECRET-PROMPT-MARKER" not in got.body
    assert b"Answer " not in got.body  # nor the answers


def test_publishing_results_tells_each_lab_about_its_own_models_only(
    receiver, django_capture_on_commit_callbacks, settings
):
    settings.SEAL_LEADERBOARD_REPLICAS = 30
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    world = leaderboard_world()
    world.rate()
    ours, theirs, third = world.models
    our_hook = hook(receiver, ours.lab, "/ok-ours")
    hook(receiver, theirs.lab, "/ok-theirs")
    hook(receiver, third.lab, "/ok-third", events=[COMPLETED])  # not subscribed
    with django_capture_on_commit_callbacks(execute=True):
        [snapshot] = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    [got] = receiver.to("/ok-ours")
    message = Webhook(our_hook.secret).verify(got.body, got.headers)
    assert message["type"] == "results.published"
    assert got.webhook_id == f"evt_results_{snapshot.pk}_lab_{ours.lab_id}"
    data = message["data"]
    assert data["domain"] == world.domain.slug
    assert data["snapshot_id"] == snapshot.pk
    assert [model["model_version_id"] for model in data["models"]] == [ours.pk]
    boards = {line["board"] for line in data["models"][0]["boards"]}
    assert "overall" in boards
    overall = next(line for line in data["models"][0]["boards"] if line["board"] == "overall")
    assert overall["rank"] == 1
    assert overall["lower"] <= overall["elo"] <= overall["upper"]
    body = got.body.decode()
    assert PRIVATE_MARKER not in body
    for other in (theirs, third):
        assert f'"model_version_id":{other.pk},' not in body
        assert other.lab.name not in body
    [their_message] = receiver.to("/ok-theirs")
    assert [m["model_version_id"] for m in their_message.message["data"]["models"]] == [theirs.pk]
    assert receiver.to("/ok-third") == []

    # The same input published again is the same snapshot: nothing new is sent.
    with django_capture_on_commit_callbacks(execute=True):
        leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    assert len(receiver.to("/ok-ours")) == 1


def test_submission_completed_is_supported_for_the_completion_service(
    receiver, django_capture_on_commit_callbacks
):
    """Not wired here (the completion service calls it); the event goes out as emitted."""
    lab = LabFactory.create()
    hook(receiver, lab, "/ok", events=[COMPLETED])
    with django_capture_on_commit_callbacks(execute=True):
        emit(lab, "evt_submission_3_completed", submission_id=3, reason="target_precision")
    [got] = receiver.to("/ok")
    assert got.message["type"] == "submission.completed"
    assert got.message["data"]["reason"] == "target_precision"


def test_the_default_policy_retries_for_about_four_hours(settings):
    policy = webhook_policy()
    assert policy.max_attempts == 10
    ceilings = [min(policy.backoff_max, policy.backoff_base * 2**k) for k in range(9)]
    assert 3.5 * 3600 < sum(ceilings) < 4.5 * 3600


def test_a_refused_results_event_never_holds_up_the_publication(
    receiver, settings, django_capture_on_commit_callbacks
):
    settings.SEAL_LEADERBOARD_REPLICAS = 30
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD = 10
    settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL = 3
    settings.SEAL_WEBHOOK_MAX_PAYLOAD_BYTES = 100
    world = leaderboard_world()
    world.rate()
    hook(receiver, world.models[0].lab, "/ok")
    with django_capture_on_commit_callbacks(execute=True):
        [snapshot] = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    assert snapshot.is_published
    assert not WebhookDelivery.objects.exists()
    assert receiver.received == []
