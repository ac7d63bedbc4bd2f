"""The whole journey in a real browser, on the real services.

A lab registers and submits a model through the API; a real Celery worker collects its answers from
a local chat-completions server and schedules comparisons; three annotators rate them in Chromium
(preference by keyboard shortcut, Ctrl+Enter to submit); a layer-1 and a layer-2 reviewer approve
them; the worker recomputes and the public leaderboard shows the new model with its interval.

Every step leaves a full-page screenshot in test-artifacts/e2e/. Annotator and reviewer pages are
checked for model names, lab names and endpoint URLs, which they must never show.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connections

from annotation.forms import SCREEN_PREFERENCES
from annotation.models import AnnotatorProfile
from leaderboards.models import PublishedLeaderboard, RecomputeJob
from seal import task_names
from seal.models import Domain
from seal.services import lab_api_key_create
from tests.builders import domain_with_prompts
from tests.factories import (
    AnnotatorProfileFactory,
    LabFactory,
    ModelVersionFactory,
    ResponseFactory,
    UserFactory,
)
from tests.fake_endpoint import FakeEndpoint
from tests.support import PROJECT_DIR, WorkerProcess, require_chromium, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

ARTIFACTS = PROJECT_DIR / "test-artifacts" / "e2e"
PASSWORD = "test-password-123"  # tests.factories.UserFactory's
PROMPTS = 3
ANNOTATORS = ("rater-ada", "rater-bo", "rater-cy")
NEW_MODEL, NEW_LAB = "Nimbus-Seven", "Orchid Labs"
OLD_MODEL, OLD_LAB = "Quasarix-Pro", "Basalt Research"
OLD_BASE_URL = "https://api.basalt-research.example/v1"
# The fake endpoint writes the `model` it was sent into its answers, so the id is not a name.
NEW_MODEL_ID = "ok-e2e"
# One preference key per rating, in the order the ratings are made: a mix of all five.
PREFERENCE_KEYS = "241352413"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    """First of the test's fixtures, so a machine without the browser skips before any set-up."""
    return require_chromium()


@pytest.fixture
def worker_env(monkeypatch) -> None:
    """What the worker process reads from its environment when the fixture starts it."""
    monkeypatch.setenv("SEAL_ENDPOINT_ALLOWED_HOSTS", "127.0.0.1:*")
    monkeypatch.setenv("SEAL_GOLD_RATE", "0")
    monkeypatch.setenv("SEAL_COLLECTION_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("SEAL_COLLECTION_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("SEAL_LEADERBOARD_REPLICAS", "200")
    monkeypatch.setenv("SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD", "1")
    monkeypatch.setenv("SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL", "1")
    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls
    # (seeding, polling) are plain synchronous code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def endpoint(settings) -> Iterator[FakeEndpoint]:
    settings.SEAL_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1:*"]  # the live server validates base_url
    settings.SEAL_GOLD_RATE = 0.0  # the live server hands out work: real comparisons only
    with FakeEndpoint(latency=0.02) as fake:
        yield fake


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """Closed at the end: a kept-alive connection would hold a live-server database session."""
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            # While Playwright's event loop runs in this thread, Django keeps the test's database
            # connections per context rather than per thread, and nothing else would close them:
            # the test database could not be dropped at the end.
            connections.close_all()
            launched.close()


@dataclass
class Journey:
    """The browser side: one context (own cookies) per person, a screenshot per step."""

    browser: Any
    base_url: str
    secrets: list[str]
    shots: list[Path] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: count(1))

    def shot(self, page: Any, name: str) -> None:
        path = ARTIFACTS / f"{next(self._numbers):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)

    def assert_private(self, page: Any) -> None:
        html = page.content()
        leaked = [secret for secret in self.secrets if secret in html]
        assert not leaked, f"{page.url} shows {leaked}"

    def log_in(self, username: str, next_url: str) -> Any:
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1280, "height": 900}
        )
        page = context.new_page()
        page.goto(f"/accounts/login/?next={next_url}")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        self.shot(page, f"{username}-login")
        with page.expect_navigation():
            page.click("form[action$='/accounts/login/'] button[type=submit]")
        assert page.url.endswith(next_url), page.url
        return page


def seed() -> tuple[Domain, str, list[AnnotatorProfile]]:
    """A domain with an active prompt set, an established model with answers, the people."""
    domain, prompt_set = domain_with_prompts(
        PROMPTS, slug="coding", text="Write a Python function that sorts list {i} in place."
    )
    Domain.objects.filter(pk=domain.pk).update(name="Coding")
    domain.refresh_from_db()
    established = ModelVersionFactory.create(
        lab=LabFactory.create(name=OLD_LAB, slug="basalt"),
        name=OLD_MODEL,
        base_url=OLD_BASE_URL,
    )
    for i, prompt in enumerate(prompt_set.prompts.order_by("pk")):
        ResponseFactory.create(
            model_version=established,
            prompt=prompt,
            text=f"Use `items.sort()`; it sorts list {i} in place and returns None.",
        )
    lab = LabFactory.create(name=NEW_LAB, slug="orchid")
    _, raw_key = lab_api_key_create(lab=lab, name="e2e")
    people = []
    for name, layer in [*((n, 0) for n in ANNOTATORS), ("review-one", 1), ("review-two", 2)]:
        profile = AnnotatorProfileFactory.create(
            user=UserFactory.create(username=name),
            is_layer1_reviewer=layer == 1,
            is_layer2_reviewer=layer == 2,
        )
        profile.domains.add(domain)
        people.append(profile)
    return domain, raw_key, people


def rate_everything(journey: Journey, username: str, keys: Iterator[str]) -> int:
    """Rate comparisons in the browser, each submit opening the next, until none is left."""
    page = journey.log_in(username, "/work/")
    journey.assert_private(page)
    journey.shot(page, f"{username}-workspace")
    with page.expect_navigation():
        page.click("#start-next")
    rated = 0
    while "/work/comparisons/" in page.url:
        journey.assert_private(page)
        key = next(keys)
        page.locator("body").press(key)  # the shortcut, with no text field focused
        options = page.locator("input[name=preference]")
        assert options.nth(int(key) - 1).is_checked()
        # The first score group now has the focus; each number scores it and moves on.
        for _ in range(page.locator("#rubric .score-row").count()):
            page.keyboard.press("4")
        page.fill(
            "textarea[name=justification]",
            "A handles the empty list and explains in-place sorting; B does not.",
        )
        journey.shot(page, f"{username}-rating-{rated + 1}")
        with page.expect_navigation():
            page.locator("textarea[name=justification]").press("Control+Enter")
        assert "Rating submitted for review." in page.content()
        rated += 1
    assert page.url.endswith("/work/"), page.url
    assert "No comparison in your expertise is waiting" in page.content()
    journey.shot(page, f"{username}-nothing-left")
    page.context.close()
    return rated


def review_everything(journey: Journey, username: str, layer: int, preferences: list[str]) -> int:
    """Approve the queue oldest first, each decision opening the next rating, checking each
    reads as its annotator gave it."""
    page = journey.log_in(username, "/review/")
    journey.assert_private(page)
    journey.shot(page, f"{username}-home")
    page.click(f"a[href$='/review/layer-{layer}/']")
    page.wait_for_load_state()
    journey.assert_private(page)
    links = page.locator("table a", has_text="Review")
    if links.count() == 0:
        assert "Nothing waiting." in page.content()
        page.context.close()
        return 0
    journey.shot(page, f"{username}-queue")
    links.first.click()
    page.wait_for_load_state()
    approved = 0
    while re.search(rf"/review/layer-{layer}/\d+/$", page.url):
        journey.assert_private(page)
        if approved == 0:
            journey.shot(page, f"{username}-item")
        # Shown in the annotator's own order and terms: the option their key chose.
        assert page.locator("#order-note").is_visible()
        assert page.locator("#rated-preference").inner_text() == preferences[approved]
        page.check("input[name=decision][value=approve]")
        with page.expect_navigation():
            page.click("#submit-review")
        assert "Approved." in page.content()
        approved += 1
    assert "Nothing waiting." in page.content()
    journey.shot(page, f"{username}-queue-empty")
    page.context.close()
    return approved


def test_a_model_goes_from_the_lab_api_through_the_browser_to_the_public_leaderboard(
    chromium, worker_env, endpoint, celery_worker_process: WorkerProcess, live_server, browser, http
):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    domain, raw_key, _ = seed()
    endpoint_host = endpoint.base_url.split("/")[2]
    journey = Journey(
        browser=browser,
        base_url=live_server.url,
        secrets=[
            NEW_MODEL,
            OLD_MODEL,
            NEW_LAB,
            OLD_LAB,
            endpoint.base_url,
            endpoint_host,
            OLD_BASE_URL,
        ],
    )

    # 1. The lab registers its model and submits it, through the API on the live server.
    http.base_url = f"{live_server.url}/api/v1"
    http.headers["Authorization"] = f"Api-Key {raw_key}"
    created = http.post(
        "/model-versions/",
        json={
            "name": NEW_MODEL,
            "version": "7.0",
            "base_url": endpoint.base_url,
            "model_id": NEW_MODEL_ID,
            "api_secret": "sk-e2e",
        },
    )
    assert created.status_code == 201, created.text
    submitted = http.post(
        "/submissions/", json={"model_version": created.json()["id"], "domains": [domain.slug]}
    )
    assert submitted.status_code == 201, submitted.text
    submission_url = f"/submissions/{submitted.json()['id']}/"

    # 2. The worker collects the answers and schedules the comparisons.
    def progress() -> dict[str, int]:
        answer = http.get(submission_url)
        assert answer.status_code == 200, answer.text
        return answer.json()["progress"]

    wait_for(lambda: progress()["comparisons_created"] == PROMPTS, timeout=90)
    assert progress()["collected"] == PROMPTS
    assert len(endpoint.calls_for(NEW_MODEL_ID)) == PROMPTS
    assert {seen.authorization for seen in endpoint.calls_for(NEW_MODEL_ID)} == {"Bearer sk-e2e"}
    assert task_names.LAB_RESPONSES_COLLECT in celery_worker_process.log()

    # 3. Three annotators rate every comparison in the browser.
    keys = iter(PREFERENCE_KEYS)
    rated = {name: rate_everything(journey, name, keys) for name in ANNOTATORS}
    assert rated == dict.fromkeys(ANNOTATORS, PROMPTS), rated

    # 4. Both review layers approve every rating in the browser.
    # The queues are oldest first, the order the keys were pressed in.
    ratings = PROMPTS * len(ANNOTATORS)
    chosen = [SCREEN_PREFERENCES[int(key) - 1][1] for key in PREFERENCE_KEYS[:ratings]]
    assert review_everything(journey, "review-one", 1, chosen) == ratings
    assert review_everything(journey, "review-two", 2, chosen) == ratings

    # 5. The worker recomputes and publishes; the public page shows the new model.
    def published() -> bool:
        pointer = PublishedLeaderboard.objects.filter(domain=domain).first()
        busy = RecomputeJob.objects.filter(
            domain=domain, status__in=RecomputeJob.ACTIVE_STATUSES
        ).exists()
        return pointer is not None and not busy and pointer.snapshot.n_ratings == ratings

    wait_for(published, timeout=120, interval=0.5)
    assert task_names.RECOMPUTE_JOB_RUN in celery_worker_process.log()
    assert progress()["ratings_approved"] == ratings

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()

    def board_shows_new_model() -> bool:
        # The page and the public pointer are cached for a few seconds.
        page.goto(f"/leaderboards/{domain.slug}/")
        return page.locator("table#leaderboard tr", has_text=NEW_MODEL).count() == 1

    wait_for(board_shows_new_model, timeout=30, interval=1.0)
    row = page.locator("table#leaderboard tr", has_text=NEW_MODEL)
    assert NEW_LAB in row.inner_text()
    assert re.fullmatch(r"\+\d+\s*/\s*−\d+", row.locator("td.lb-ci").inner_text().strip())
    assert page.locator("table#leaderboard tr", has_text=OLD_MODEL).count() == 1
    chart = page.locator("img[src*='/intervals.svg']")
    chart.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=chart.element_handle(), timeout=30_000
    )
    page.locator("img[src*='/win-rates.svg']").scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.images].every(img => img.complete && img.naturalWidth > 0)",
        timeout=30_000,
    )
    journey.shot(page, "public-leaderboard")
    context.close()

    assert all(path.stat().st_size > 5_000 for path in journey.shots)
