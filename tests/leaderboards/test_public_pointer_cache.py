"""A web process remembers which snapshot is public until PostgreSQL notifies it of a change.

The writer here is a second database connection (another thread, as another web process or a
worker would be): its hide and publish reach the remembering reader only through the NOTIFY sent
at its commit, since the remembered entries are given an hour to live.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction

from leaderboards.models import Snapshot
from leaderboards.public_cache import listener_ready, listener_stop
from leaderboards.selectors import leaderboard_index_version, published_version
from leaderboards.services import leaderboards_publish_now, snapshot_hide
from tests.builders import PRIVATE_MARKER, leaderboard_world
from tests.support import require_postgres


@pytest.fixture
def remembering(settings) -> Iterator[None]:
    settings.SEAL_LEADERBOARD_POINTER_CACHE = True
    settings.SEAL_LEADERBOARD_POINTER_MAX_AGE = 3600.0
    yield
    listener_stop()  # its connection must be gone before the test database is dropped


def _on_another_connection(write: Callable[[], Any]) -> None:
    errors: list[Exception] = []

    def run() -> None:
        try:
            write()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors, errors


def _public_snapshot_becomes(slug: str, expected: int | None) -> bool:
    """Whether the remembered public snapshot turns into `expected` (waits for the listener)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        version = published_version(domain_slug=slug)
        if (version.snapshot_id if version else None) == expected:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.django_db(transaction=True)
def test_hiding_and_publishing_on_another_connection_reach_a_remembering_reader(
    client, remembering, django_assert_num_queries
):
    require_postgres()
    world = leaderboard_world(n_models=3)
    slug = world.domain.slug
    world.rate(prompts=world.prompts[0::3], seed=1)
    (first,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    world.rate(prompts=world.prompts[1::3], seed=2)
    (second,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    assert listener_ready()

    response = client.get(f"/api/v1/leaderboards/{slug}/")
    assert response.json()["snapshot"]["id"] == second.pk
    etag = response["ETag"]
    page = client.get(f"/leaderboards/{slug}/")
    assert page.status_code == 200
    assert client.get("/api/v1/leaderboards/").status_code == 200
    # Remembered: neither the pointer nor the cached bodies cost a query now.
    with django_assert_num_queries(0):
        assert client.get(f"/api/v1/leaderboards/{slug}/")["ETag"] == etag
        assert client.get(f"/leaderboards/{slug}/")["ETag"] == page["ETag"]
        assert client.get("/api/v1/leaderboards/").status_code == 200
        leaderboard_index_version()
        leaderboard_index_version()

    # Hidden by another connection: the domain falls back to the first snapshot.
    _on_another_connection(lambda: snapshot_hide(snapshot=second))
    assert _public_snapshot_becomes(slug, first.pk)
    body = client.get(f"/api/v1/leaderboards/{slug}/")
    assert body.json()["snapshot"]["id"] == first.pk and body["ETag"] != etag
    assert client.get(f"/api/v1/leaderboards/{slug}/", HTTP_IF_NONE_MATCH=etag).status_code == 200
    assert client.get(f"/leaderboards/{slug}/")["ETag"] != page["ETag"]
    index = client.get("/api/v1/leaderboards/").json()
    assert [d["snapshot"]["id"] for d in index["domains"]] == [first.pk]
    assert client.get(f"/leaderboards/{slug}/snapshots/{second.pk}/").status_code == 404

    # Published by another connection: the new snapshot is public.
    def publish() -> None:
        world.rate(prompts=world.prompts[2::3], seed=3)
        leaderboards_publish_now(domains=[world.domain], draw_charts=False)

    _on_another_connection(publish)
    third = Snapshot.objects.filter(domain=world.domain).order_by("-pk").first()
    assert third is not None and third.pk > second.pk
    assert _public_snapshot_becomes(slug, third.pk)
    assert client.get(f"/api/v1/leaderboards/{slug}/").json()["snapshot"]["id"] == third.pk

    # Every snapshot hidden: nothing public, remembered or not.
    def hide_all() -> None:
        for snapshot in Snapshot.objects.filter(domain=world.domain, is_hidden=False):
            snapshot_hide(snapshot=snapshot)

    _on_another_connection(hide_all)
    assert _public_snapshot_becomes(slug, None)
    for path in (f"/api/v1/leaderboards/{slug}/", f"/leaderboards/{slug}/"):
        response = client.get(path)
        assert response.status_code == 404
        assert PRIVATE_MARKER not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_is_not_announced_and_a_committed_one_is(
    client, remembering, django_assert_num_queries
):
    require_postgres()
    world = leaderboard_world(n_models=3)
    slug = world.domain.slug
    world.rate(seed=1)
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    assert listener_ready()
    assert published_version(domain_slug=slug) is not None

    class Abandon(Exception):
        pass

    def hide_then_roll_back() -> None:
        try:
            with transaction.atomic():
                snapshot_hide(snapshot=snapshot)
                raise Abandon
        except Abandon:
            pass

    _on_another_connection(hide_then_roll_back)
    # The page keyed by the still-public snapshot is served from memory, not read again.
    client.get(f"/api/v1/leaderboards/{slug}/")
    with django_assert_num_queries(0):
        assert published_version(domain_slug=slug) is not None
    _on_another_connection(lambda: snapshot_hide(snapshot=snapshot))
    assert _public_snapshot_becomes(slug, None)
    assert client.get(f"/api/v1/leaderboards/{slug}/").status_code == 404


@pytest.mark.django_db
def test_inside_a_transaction_or_on_sqlite_the_pointer_is_read_every_time(
    settings, django_assert_num_queries
):
    """Inside a transaction (every test of this kind; on SQLite always) nothing is remembered: the
    transaction may have moved the pointer itself, and PostgreSQL only notifies at commit."""
    settings.SEAL_LEADERBOARD_POINTER_CACHE = True
    world = leaderboard_world(n_models=3)
    world.rate(seed=1)
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    for _ in range(2):
        with django_assert_num_queries(1):
            version = published_version(domain_slug=world.domain.slug)
        assert version is not None and version.snapshot_id == snapshot.pk
    snapshot_hide(snapshot=snapshot)
    with django_assert_num_queries(1):
        assert published_version(domain_slug=world.domain.slug) is None
    listener_stop()
