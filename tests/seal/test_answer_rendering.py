"""Answers are rendered once, when stored, within bounds; pages show what was stored."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from seal import rendering
from seal.models import Response
from seal.rendering import (
    SLOW_SHAPE,
    TIMEOUT,
    TOO_LARGE,
    TOO_LONG,
    AnswerRenderer,
    RenderLimits,
    plain_text_html,
)
from seal.services import lab_responses_collect, submission_create
from tests.builders import build_world, domain_with_prompts, model_on
from tests.factories import AnnotatorProfileFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db

NESTED_BRACKETS = "[" * 4_000_000  # the issue's inputs, both under the 4 MiB answer cap
LINKS = "[a](b)" * 650_000
NORMAL = "Use **sorted**:\n\n```python\nprint(sorted(xs))\n```\n\n- one\n- [docs](https://x.org)\n"
HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))"


def test_the_issues_inputs_are_stored_as_escaped_text_by_the_collector(fake_endpoint):
    domain, _ = domain_with_prompts(3)
    fake_endpoint.answers = {"prompt 0:": NESTED_BRACKETS, "prompt 1:": LINKS, "prompt 2:": NORMAL}
    model_version = model_on(fake_endpoint, "ok")
    submission_create(model_version=model_version, domains=[domain.slug])

    lab_responses_collect(lab=model_version.lab)

    stored = {r.prompt.external_id: r for r in Response.objects.select_related("prompt")}
    assert {r.status for r in stored.values()} == {Response.Status.OK}
    for key, text in (("p0", NESTED_BRACKETS), ("p1", LINKS)):
        assert stored[key].text == text
        assert stored[key].html == plain_text_html(text)
        assert stored[key].html.startswith('<pre class="plain-text">')
        assert "<a " not in stored[key].html
    assert "<strong>sorted</strong>" in stored["p2"].html
    assert 'class="highlight"' in stored["p2"].html
    assert 'href="https://x.org"' in stored["p2"].html


def test_slow_shapes_and_long_answers_are_refused_before_rendering():
    with AnswerRenderer(RenderLimits()) as renderer:
        assert renderer.render(NESTED_BRACKETS).fallback == TOO_LONG
        assert renderer.render(LINKS).fallback == TOO_LONG
        # Under the length limit, the same shapes are still refused.
        assert renderer.render("[" * 100_000).fallback == SLOW_SHAPE
        assert renderer.render("[a](b)" * 20_000).fallback == SLOW_SHAPE
        assert renderer.render(NORMAL).fallback == ""


def test_a_render_over_the_time_limit_is_killed_and_falls_back():
    # Any Markdown the limit cuts short (the limit is tiny; shapes the checks let through).
    long_answer = NORMAL * 1_000
    with AnswerRenderer(RenderLimits(timeout_seconds=0.01)) as renderer:
        timed_out = renderer.render(long_answer)
        assert timed_out.fallback == TIMEOUT
        assert timed_out.html == plain_text_html(long_answer)
        assert renderer._child is None  # killed
    with AnswerRenderer(RenderLimits()) as renderer:
        assert renderer.render(long_answer).fallback == ""


def test_html_over_the_size_limit_falls_back():
    with AnswerRenderer(RenderLimits(max_html_chars=100)) as renderer:
        rendered = renderer.render(NORMAL)
    assert rendered.fallback == TOO_LARGE
    assert rendered.html == plain_text_html(NORMAL)


def test_a_stored_answer_keeps_no_script(fake_endpoint):
    domain, _ = domain_with_prompts(1)
    fake_endpoint.answers = {"prompt 0:": HOSTILE + "\n\n" + NORMAL}
    model_version = model_on(fake_endpoint, "ok")
    submission_create(model_version=model_version, domains=[domain.slug])
    lab_responses_collect(lab=model_version.lab)
    stored = Response.objects.get(model_version=model_version)
    assert "<script" not in stored.html
    assert "onerror=" not in stored.html.replace("onerror=alert(2)&gt;", "")
    assert "javascript:" not in stored.html.replace("[x](javascript:", "")
    assert "&lt;script&gt;" in stored.html
    assert "<strong>sorted</strong>" in stored.html
    for fallback_text in (HOSTILE + "[" * 6_000, HOSTILE * 30_000):
        html = AnswerRenderer(RenderLimits()).render(fallback_text).html
        assert "<script" not in html
        assert "<img" not in html


def test_the_comparison_page_shows_the_stored_html_and_never_renders_again(monkeypatch):
    world = build_world(task_count=1, answer_text="Answer {i} from model {m}")
    task = world.tasks[0]
    marker = '<p>stored <strong>as is</strong> <span class="k">7f3a</span></p>'
    Response.objects.filter(pk__in=[task.response_a_id, task.response_b_id]).update(
        html=marker, text="**TEXT NOT RENDERED PER VIEW**"
    )
    # A renderer that changed since the answers were stored must not change the page.
    monkeypatch.setattr(rendering._MARKDOWN, "render", lambda text: "<p>RE-RENDERED</p>")
    annotator = AnnotatorProfileFactory.create(user=UserFactory.create(username="ann"))
    annotator.domains.add(world.domain)
    client = Client()
    client.force_login(annotator.user)

    started = client.post(reverse("annotation:work_next"))
    page = client.get(started["Location"]).content.decode()

    assert page.count(marker) == 2
    assert "TEXT NOT RENDERED" not in page


def test_answers_stored_before_html_existed_are_backfilled_by_the_migration():
    old = ResponseFactory.create(text="An *old* answer", html="")
    unanswered = ResponseFactory.create(status=Response.Status.PENDING, text="", html="")
    migration = importlib.import_module("seal.migrations.0004_response_html_and_sends")
    migration.answers_html_backfill(apps, None)  # the data step of `migrate`
    old.refresh_from_db()
    unanswered.refresh_from_db()
    assert old.html == "<p>An <em>old</em> answer</p>\n"
    assert unanswered.html == ""
