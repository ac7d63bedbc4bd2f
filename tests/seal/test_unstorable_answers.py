"""Answers a database cannot take as sent: cleaned, isolated, and never re-sent for ever.

Run on SQLite by default and on PostgreSQL (the real failure) with DATABASE_URL set.
"""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from seal.models import Response, Submission
from seal.services import lab_responses_collect, responses_retry_failed
from tests.builders import domain_with_prompts, model_on

pytestmark = pytest.mark.django_db

URL = "/api/v1/submissions/"


def submit_through_api(lab_client, model_version, domain) -> int:
    response = lab_client.client.post(
        URL, {"model_version": model_version.pk, "domains": [domain.slug]}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def refuse_answers_containing(marker: str) -> None:
    """A real database refusal for one answer: a trigger (dropped with the test's transaction)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"""CREATE FUNCTION test_refuse_answer() RETURNS trigger AS $$
                BEGIN
                    IF NEW.text LIKE '%{marker}%' THEN RAISE EXCEPTION 'refused'; END IF;
                    RETURN NEW;
                END; $$ LANGUAGE plpgsql"""
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse_answer BEFORE UPDATE ON seal_response "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse_answer()"
            )
        else:
            cursor.execute(
                f"""CREATE TRIGGER test_refuse_answer BEFORE UPDATE ON seal_response
                FOR EACH ROW WHEN NEW.text LIKE '%{marker}%'
                BEGIN SELECT RAISE(ABORT, 'refused'); END"""
            )


def test_a_lone_surrogate_is_stored_replaced_and_the_batch_finishes(lab_client, fake_endpoint):
    domain, _ = domain_with_prompts(4)
    # What an API that cut an emoji at max_tokens sends: {"content": "x \ud800 y"}, plus a NUL.
    fake_endpoint.answers = {"prompt 1:": "x \ud800 y\x00!", "prompt 2:": "ok \U0001f600"}
    model_version = model_on(fake_endpoint, "ok", lab=lab_client.lab)
    submission_id = submit_through_api(lab_client, model_version, domain)

    lab_responses_collect(lab=lab_client.lab)

    responses = Response.objects.filter(model_version=model_version)
    assert set(responses.values_list("status", flat=True)) == {Response.Status.OK}
    texts = set(responses.values_list("text", flat=True))
    assert {"x \ufffd y!", "ok \U0001f600"} <= texts
    assert responses.get(text="x \ufffd y!").html == "<p>x \ufffd y!</p>\n"
    assert set(fake_endpoint.prompt_counts("ok").values()) == {1}
    detail = lab_client.client.get(f"{URL}{submission_id}/").json()
    assert detail["status"] == Submission.Status.COLLECTED
    assert (detail["progress"]["collected"], detail["failures"]) == (4, [])


def test_a_row_the_database_refuses_is_failed_alone(lab_client, fake_endpoint, caplog):
    domain, _ = domain_with_prompts(4)
    fake_endpoint.answers = {"prompt 2:": "REFUSED-BY-THE-DATABASE"}
    refuse_answers_containing("REFUSED-BY-THE-DATABASE")
    model_version = model_on(fake_endpoint, "ok", lab=lab_client.lab)
    submission_id = submit_through_api(lab_client, model_version, domain)

    with caplog.at_level(logging.ERROR, logger="seal.services"):
        lab_responses_collect(lab=lab_client.lab)

    statuses = dict(
        Response.objects.filter(model_version=model_version).values_list(
            "prompt__external_id", "status"
        )
    )
    assert statuses == {"p0": "ok", "p1": "ok", "p2": "failed", "p3": "ok"}
    refused = Response.objects.get(model_version=model_version, prompt__external_id="p2")
    assert refused.error.startswith("unstorable: ")
    assert refused.text == ""
    assert "the result could not be stored" in caplog.text
    detail = lab_client.client.get(f"{URL}{submission_id}/").json()
    assert detail["status"] == Submission.Status.COLLECTED
    assert detail["status_detail"] == (
        "3 of 4 answers collected. 1 of 4 calls failed: unstorable (1)."
    )
    assert detail["failures"] == [{"kind": "unstorable", "count": 1}]
    assert "REFUSED" not in str(detail)


def test_a_prompt_resent_by_every_collector_stops_at_the_send_limit(
    lab_client, fake_endpoint, settings
):
    settings.SEAL_COLLECTION_MAX_SENDS_PER_PROMPT = 3
    settings.SEAL_COLLECTION_TIMEOUT_SECONDS = 1.5
    domain, _ = domain_with_prompts(1)
    # The endpoint never answers within a collector's time: each collector ends with the call
    # still open and leaves the prompt pending, as a collector killed mid-call does.
    hanging = model_on(fake_endpoint, "hang", lab=lab_client.lab)
    answering = model_on(fake_endpoint, "ok", lab=lab_client.lab)
    stuck_id = submit_through_api(lab_client, hanging, domain)
    other_id = submit_through_api(lab_client, answering, domain)

    runs = 0
    while Submission.objects.get(pk=stuck_id).is_collecting and runs < 12:
        runs += 1
        # The budget ends while the call is open (a run that only starts its HTTP client
        # within the budget sends nothing, and the next one takes over).
        lab_responses_collect(lab=lab_client.lab, budget_seconds=0.8)

    assert len(fake_endpoint.calls_for("hang")) == 3
    stuck = Response.objects.get(model_version=hanging)
    assert (stuck.status, stuck.sends) == (Response.Status.FAILED, 3)
    assert stuck.error.startswith("send_limit: sent 3 times")
    detail = lab_client.client.get(f"{URL}{stuck_id}/").json()
    assert detail["status"] == Submission.Status.FAILED
    assert detail["progress"]["failed"] == 1
    assert detail["failures"] == [{"kind": "send_limit", "count": 1}]
    assert detail["status_detail"] == (
        "No answer was collected. 1 of 1 calls failed: send_limit (1)."
    )
    assert "Private prompt" not in str(detail)
    other = lab_client.client.get(f"{URL}{other_id}/").json()
    assert other["status"] == Submission.Status.COLLECTED
    assert len(fake_endpoint.calls_for("ok")) == 1

    # The lab fixed its endpoint and staff retry: the count starts over.
    hanging.model_id = "ok-fixed"
    hanging.save()
    assert responses_retry_failed(responses=[stuck]).retried == 1
    lab_responses_collect(lab=lab_client.lab)
    stuck.refresh_from_db()
    assert (stuck.status, stuck.sends) == (Response.Status.OK, 1)
    assert Submission.objects.get(pk=stuck_id).status == Submission.Status.COLLECTED
