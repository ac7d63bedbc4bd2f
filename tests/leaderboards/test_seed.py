"""`seed_demo` ends with a published snapshot for every demo domain, and a board per category."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from leaderboards.models import PublishedLeaderboard, Snapshot, SnapshotBoard
from seal.models import Category, Domain

pytestmark = pytest.mark.django_db


def test_the_demo_seed_publishes_every_domain_and_category(settings, client):
    settings.SEAL_LEADERBOARD_REPLICAS = 200
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "leaderboards published for 4 domains" in out.getvalue()
    for domain in Domain.objects.all():
        pointer = PublishedLeaderboard.objects.get(domain=domain)
        keys = set(
            SnapshotBoard.objects.filter(snapshot=pointer.snapshot).values_list("key", flat=True)
        )
        assert keys == {
            "overall",
            *Category.objects.filter(domain=domain).values_list("slug", flat=True),
        }
        overall = pointer.snapshot.boards.get(key="overall")
        assert overall.status == SnapshotBoard.Status.RANKED and overall.n_models == 7
        assert client.get(f"/leaderboards/{domain.slug}/").status_code == 200
    # Most category boards of the demo are ranked; a thin one may be shown as not ranked.
    boards = SnapshotBoard.objects.exclude(key="overall")
    assert boards.filter(status=SnapshotBoard.Status.RANKED).count() > 0.8 * boards.count()
    # Seeding again publishes nothing new: the input is the same.
    snapshots = Snapshot.objects.count()
    call_command("seed_demo", stdout=StringIO())
    assert Snapshot.objects.count() == snapshots == 4
