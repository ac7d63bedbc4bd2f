"""Seasons: boards per prompt-set version. A refreshed set starts a new season; the older one's
last boards stay readable, as pages and JSON, at a season address."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from leaderboards.models import PublishedLeaderboard, Snapshot
from leaderboards.stats.ratings_file import ratings_file_read, ratings_file_verify
from seal.models import Prompt, PromptSet, Response
from seal.prompt_import import content_hash
from tests.builders import PRIVATE_MARKER, LeaderboardWorld, leaderboard_world
from tests.leaderboards.test_recompute import publish

pytestmark = pytest.mark.django_db


def new_season(world: LeaderboardWorld, version: str, n_prompts: int = 8) -> list[Prompt]:
    """Retire the active set and activate a new one with its own prompts and answers."""
    PromptSet.objects.filter(pk=world.prompt_set.pk).update(status=PromptSet.Status.RETIRED)
    prompt_set = PromptSet.objects.create(
        domain=world.domain, version=version, status=PromptSet.Status.ACTIVE
    )
    categories = list(world.categories.values())
    prompts = []
    for i in range(n_prompts):
        text = f"{PRIVATE_MARKER} {version} prompt {i}"
        prompt = Prompt.objects.create(
            prompt_set=prompt_set, text=text, content_hash=content_hash(text)
        )
        prompt.categories.add(categories[i % len(categories)])
        prompts.append(prompt)
        for model in world.models:
            world.responses[(model.pk, prompt.pk)] = Response.objects.create(
                model_version=model, prompt=prompt, status=Response.Status.OK, text="An answer."
            )
    return prompts


@pytest.fixture
def two_seasons(db):
    world = leaderboard_world()
    world.prompt_set.version = "2026-05"
    world.prompt_set.save()
    world.rate()
    first = publish(world)
    prompts = new_season(world, "2026-11")
    world.rate(prompts=prompts, seed=3)
    second = publish(world)
    return world, first, second


def test_a_new_prompt_set_starts_a_new_season_and_the_old_one_stays_readable(two_seasons, client):
    world, first, second = two_seasons
    assert first.prompt_set_id == world.prompt_set.pk
    assert second.prompt_set is not None and second.prompt_set.version == "2026-11"
    # The new season counts only the ratings on its own prompts.
    assert first.n_ratings == 108 and second.n_ratings == 8 * 3 * 3
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == second

    current = client.get("/leaderboards/coding/").content.decode()
    assert "/leaderboards/coding/seasons/2026-05/" in current
    old = client.get("/leaderboards/coding/seasons/2026-05/")
    assert old.status_code == 200
    page = old.content.decode()
    assert f"Snapshot #{first.pk}" in page and "Season 2026-05" in page
    assert "earlier prompt set" in page
    assert "/leaderboards/coding/seasons/2026-05/python/" in page
    board = client.get("/leaderboards/coding/seasons/2026-05/python/")
    assert board.status_code == 200 and f"Snapshot #{first.pk}" in board.content.decode()
    assert client.get("/leaderboards/coding/seasons/1999/").status_code == 404

    body = client.get("/api/v1/leaderboards/coding/seasons/2026-05/overall/").json()
    assert body["snapshot"]["id"] == first.pk
    assert body["snapshot"]["n_ratings"] == 108
    assert {link["url"] for link in body["boards"]} == {
        f"/api/v1/leaderboards/coding/seasons/2026-05/{key}/"
        for key in ("overall", "python", "sql")
    }
    seasons = client.get("/api/v1/leaderboards/coding/seasons/").json()["seasons"]
    assert [(s["version"], s["is_current"], s["snapshot_id"]) for s in seasons] == [
        ("2026-11", True, second.pk),
        ("2026-05", False, first.pk),
    ]
    assert PRIVATE_MARKER not in page + current + str(body) + str(seasons)


def test_the_ratings_file_of_a_season_holds_its_ratings_only_and_reproduces(two_seasons):
    _, first, second = two_seasons
    from leaderboards.services import snapshot_ratings_file_ensure

    for snapshot in (first, second):
        found = snapshot_ratings_file_ensure(snapshot_id=snapshot.pk)
        assert found is not None
        parsed = ratings_file_read(bytes(found.content))
        assert parsed.header["season"]["version"] == snapshot.prompt_set.version
        assert parsed.counts["ratings"] == snapshot.n_ratings
        _, problems = ratings_file_verify(parsed)
        assert problems == []


def test_a_hidden_season_snapshot_is_not_served(two_seasons, client):
    from leaderboards.services import snapshot_hide

    _, first, _ = two_seasons
    snapshot_hide(snapshot=first)
    assert client.get("/leaderboards/coding/seasons/2026-05/").status_code == 404
    assert client.get("/api/v1/leaderboards/coding/seasons/2026-05/overall/").status_code == 404
    seasons = client.get("/api/v1/leaderboards/coding/seasons/").json()["seasons"]
    assert [s["version"] for s in seasons] == ["2026-11"]


def test_a_snapshots_season_cannot_be_changed(two_seasons):
    _, first, second = two_seasons
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Snapshot.objects.filter(pk=first.pk).update(prompt_set_id=second.prompt_set_id)


def test_a_domain_without_an_active_set_counts_every_rating(db):
    world = leaderboard_world()
    world.rate()
    PromptSet.objects.filter(pk=world.prompt_set.pk).update(status=PromptSet.Status.RETIRED)
    snapshot = publish(world)
    assert snapshot.prompt_set_id is None and snapshot.n_ratings == 108


def test_what_experts_found_counts_the_seasons_answers_only(two_seasons):
    from annotation.services import approved_answer_sums_rebuild
    from leaderboards.recompute_inputs import recompute_inputs_load

    world, _first, _second = two_seasons
    approved_answer_sums_rebuild(domain_id=world.domain.pk)  # the world writes its ratings in bulk
    inputs = recompute_inputs_load(domain=world.domain)
    season_prompts = set(
        Prompt.objects.filter(prompt_set__version="2026-11").values_list("pk", flat=True)
    )
    assert inputs.answers is not None
    assert set(inputs.answers.prompt.tolist()) == season_prompts
    # Each of the season's 8 prompts x 3 pairs x 3 ratings rated two answers.
    assert int(inputs.answers.answers.sum()) == 8 * 3 * 3 * 2
