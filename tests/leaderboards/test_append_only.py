"""A published snapshot is append-only in the database, and pages never serve a stale one.

Every forged write below is raw SQL (connection.cursor().execute), the way an operator or an
attacker with the database would write it: no ORM in the way. They run on SQLite and PostgreSQL;
TRUNCATE and the commit-time checks are PostgreSQL's.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from leaderboards.models import PublishedLeaderboard, Snapshot, SnapshotBoard, SnapshotEntry
from leaderboards.services import (
    leaderboards_publish_now,
    snapshot_charts_render,
    snapshot_hide,
    snapshot_unhide,
)
from tests.builders import LeaderboardWorld, leaderboard_world
from tests.factories import ModelVersionFactory
from tests.support import require_postgres

pytestmark = pytest.mark.django_db


def sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def refused(statement: str, *params: Any) -> str:
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic():
        sql(statement, *params)
    return str(excinfo.value)


def publish(world: LeaderboardWorld) -> Snapshot:
    (snapshot,) = leaderboards_publish_now(domains=[world.domain], draw_charts=False)
    return snapshot


@pytest.fixture
def two(db) -> tuple[LeaderboardWorld, Snapshot, Snapshot]:
    """Two published snapshots of one domain; the second is public."""
    world = leaderboard_world()
    world.rate(prompts=world.prompts[:8])
    first = publish(world)
    world.rate(prompts=world.prompts[8:], seed=1)
    second = publish(world)
    return world, first, second


FORGED_SNAPSHOT = (
    "INSERT INTO leaderboards_snapshot (domain_id, input_fingerprint, created_at, config, "
    "n_ratings, n_prompts, n_models, is_hidden, is_published) "
    "VALUES (%s, %s, %s, '{}', 0, 0, 0, %s, %s)"
)
FORGED_ENTRY = (
    "INSERT INTO leaderboards_snapshotentry (snapshot_id, board_id, board_key, model_version_id, "
    "position, rank, elo, n_ratings, wins, ties, losses, contaminated, few_ratings) "
    "VALUES (%s, %s, 'overall', %s, 0, 1, 2500.0, 99, 99, 0, 0, %s, %s)"
)


def test_rows_cannot_be_added_to_a_published_snapshot(two):
    world, _, second = two
    board = SnapshotBoard.objects.get(snapshot=second, key="overall")
    newcomer = ModelVersionFactory.create(name="Forged")
    # A forged first place on the public board.
    assert "append-only" in refused(FORGED_ENTRY, second.pk, board.pk, newcomer.pk, False, False)
    assert "append-only" in refused(
        "INSERT INTO leaderboards_snapshotboard (snapshot_id, key, facet, title, position, "
        "status, status_detail, n_ratings, n_prompts, n_models, has_accuracy, data) "
        "VALUES (%s, 'forged', '', 'Forged', 9, 'ranked', '', 1, 1, 1, %s, '{}')",
        second.pk,
        False,
    )
    # Nor through an unpublished snapshot of one's own: an entry goes to a board of its snapshot.
    with transaction.atomic():
        sql(FORGED_SNAPSHOT, world.domain.pk, "forged", timezone.now(), False, False)
        forged = Snapshot.objects.get(input_fingerprint="forged")
        assert "own snapshot" in refused(
            FORGED_ENTRY, forged.pk, board.pk, newcomer.pk, False, False
        )
        transaction.set_rollback(True)  # leave nothing behind
    assert not SnapshotEntry.objects.filter(model_version=newcomer).exists()
    assert SnapshotBoard.objects.filter(snapshot=second).count() == 3


def test_a_snapshot_cannot_be_inserted_published_nor_published_without_boards(two):
    world, _, second = two
    now = timezone.now()
    assert "inserted unpublished" in refused(
        FORGED_SNAPSHOT, world.domain.pk, "forged", now, False, True
    )
    with transaction.atomic():
        sql(FORGED_SNAPSHOT, world.domain.pk, "empty", now, False, False)
        empty = Snapshot.objects.get(input_fingerprint="empty")
        assert "with its boards" in refused(
            "UPDATE leaderboards_snapshot SET is_published = %s WHERE id = %s", True, empty.pk
        )
        # Abandoned before publishing: it may go.
        sql("DELETE FROM leaderboards_snapshot WHERE id = %s", empty.pk)
    assert "append-only" in refused(
        "UPDATE leaderboards_snapshot SET is_published = %s WHERE id = %s", False, second.pk
    )


def test_published_rows_cannot_be_deleted(two):
    world, first, second = two
    snapshot_charts_render(snapshot=second)
    board = SnapshotBoard.objects.get(snapshot=second, key="overall")
    for statement, pk in [
        ("DELETE FROM leaderboards_snapshotentry WHERE board_id = %s", board.pk),
        ("DELETE FROM leaderboards_snapshotchart WHERE board_id = %s", board.pk),
        ("DELETE FROM leaderboards_snapshotboard WHERE id = %s", board.pk),
        ("DELETE FROM leaderboards_snapshot WHERE id = %s", first.pk),
    ]:
        assert "append-only" in refused(statement, pk)
    assert "append-only" in refused(
        "UPDATE leaderboards_snapshotchart SET svg = '<svg/>' WHERE board_id = %s", board.pk
    )
    assert board.entries.count() == len(world.models) and board.charts.count() == 2
    assert Snapshot.objects.filter(domain=world.domain).count() == 2


def test_the_pointer_moves_only_to_a_newer_visible_snapshot_of_its_domain(two):
    world, first, second = two
    other = leaderboard_world(slug="math")
    other.rate()
    elsewhere = publish(other)
    pointer = PublishedLeaderboard.objects.get(domain=world.domain)
    move = "UPDATE leaderboards_publishedleaderboard SET snapshot_id = %s WHERE id = %s"
    assert "pointer" in refused(move, first.pk, pointer.pk)  # back to an older one
    assert "pointer" in refused(move, elsewhere.pk, pointer.pk)  # another domain's
    assert "pointer" in refused(
        "DELETE FROM leaderboards_publishedleaderboard WHERE id = %s", pointer.pk
    )
    assert "pointer" in refused(
        "UPDATE leaderboards_publishedleaderboard SET domain_id = %s WHERE id = %s",
        other.domain.pk,
        pointer.pk,
    )
    with transaction.atomic():
        sql("UPDATE leaderboards_snapshot SET is_hidden = %s WHERE id = %s", True, first.pk)
        assert "pointer" in refused(move, first.pk, pointer.pk)  # a hidden one
        transaction.set_rollback(True)  # leave nothing behind
    pointer.refresh_from_db()
    assert pointer.snapshot_id == second.pk

    # What staff do still works: hiding moves it back, showing forward, the last one removes it.
    snapshot_hide(snapshot=second)
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == first
    snapshot_unhide(snapshot=second)
    assert PublishedLeaderboard.objects.get(domain=world.domain).snapshot == second
    snapshot_hide(snapshot=second)
    snapshot_hide(snapshot=first)
    assert not PublishedLeaderboard.objects.filter(domain=world.domain).exists()


def shown_ratings(page) -> int:
    found = re.search(r"<dt>Approved ratings</dt><dd>(\d+)</dd>", page.content.decode())
    assert found is not None
    return int(found.group(1))


def test_a_new_publication_is_served_at_once_from_the_page_and_json_caches(client, db):
    world = leaderboard_world()
    world.rate(prompts=world.prompts[:8])
    first = publish(world)
    page = reverse("leaderboards:domain", args=["coding"])
    api = reverse("api-leaderboard-domain", args=["coding"])
    index = reverse("api-leaderboards")
    assert shown_ratings(client.get(page)) == first.n_ratings
    assert client.get(api).json()["snapshot"]["id"] == first.pk
    assert client.get(index).json()["domains"][0]["snapshot"]["id"] == first.pk

    world.rate(prompts=world.prompts[8:], seed=1)
    second = publish(world)
    assert shown_ratings(client.get(page)) == second.n_ratings
    assert client.get(api).json()["snapshot"]["id"] == second.pk
    assert client.get(index).json()["domains"][0]["snapshot"]["id"] == second.pk

    # Back to the first (staff hide the second): the first's page, with its new publication time.
    snapshot_hide(snapshot=second)
    body = client.get(api).json()
    assert body["snapshot"]["id"] == first.pk
    published_at = PublishedLeaderboard.objects.get(domain=world.domain).published_at
    assert body["snapshot"]["published_at"] == published_at.isoformat().replace("+00:00", "Z")
    assert shown_ratings(client.get(page)) == first.n_ratings


@pytest.mark.postgres
def test_truncate_is_refused_on_every_snapshot_table(two):
    require_postgres()
    for table in (
        "leaderboards_snapshot",
        "leaderboards_snapshotboard",
        "leaderboards_snapshotentry",
        "leaderboards_snapshotchart",
        "leaderboards_publishedleaderboard",
    ):
        assert "TRUNCATE" in refused(f"TRUNCATE {table} CASCADE")
    assert Snapshot.objects.count() == 2


@pytest.mark.postgres
def test_a_snapshot_left_unpublished_cannot_be_committed(two):
    require_postgres()
    # Constraints checked at commit are checked now, inside the test's own transaction.
    with transaction.atomic():
        sql(FORGED_SNAPSHOT, two[0].domain.pk, "later", timezone.now(), False, False)
        assert "in the transaction that writes it" in refused("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)  # leave nothing behind


def test_a_pointer_moved_by_sql_is_served_at_once(client, two):
    """No remembered pointer: a move that bypasses the services is not served stale either."""
    world, first, second = two
    snapshot_hide(snapshot=second)
    page = reverse("leaderboards:domain", args=["coding"])
    api = reverse("api-leaderboard-domain", args=["coding"])
    assert shown_ratings(client.get(page)) == first.n_ratings
    assert client.get(api).json()["snapshot"]["id"] == first.pk
    # An operator shows the newer snapshot again and moves the pointer forward, by SQL.
    sql(
        "UPDATE leaderboards_snapshot SET is_hidden = %s, hidden_at = NULL, hidden_by_id = NULL "
        "WHERE id = %s",
        False,
        second.pk,
    )
    sql(
        "UPDATE leaderboards_publishedleaderboard SET snapshot_id = %s, published_at = %s "
        "WHERE domain_id = %s",
        second.pk,
        timezone.now(),
        world.domain.pk,
    )
    assert shown_ratings(client.get(page)) == second.n_ratings
    assert client.get(api).json()["snapshot"]["id"] == second.pk
