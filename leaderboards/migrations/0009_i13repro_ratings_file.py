"""The anonymised ratings file of each snapshot, append-only like the snapshot's other parts.

A file is inserted with its snapshot, before the snapshot is published; once the snapshot is
published it can be neither changed nor deleted, nor the table truncated (PostgreSQL), by the
same guard functions migration 0004 installed for boards and entries.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

TABLE = "leaderboards_snapshotratingsfile"
MESSAGE = "published leaderboard snapshots are append-only"
_PUBLISHED = "COALESCE((SELECT is_published FROM leaderboards_snapshot WHERE id = {row}), 0)"

POSTGRES_UP = f"""
CREATE TRIGGER {TABLE}_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION seal_snapshot_part_guard();
CREATE TRIGGER {TABLE}_no_truncate
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION seal_leaderboards_refuse_truncate();
"""
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE};
DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE};
"""


def _abort(message: str) -> str:
    return f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"


SQLITE_TRIGGERS = {
    f"{TABLE}_append_only_insert": f"""BEFORE INSERT ON {TABLE}
        FOR EACH ROW WHEN {_PUBLISHED.format(row="NEW.snapshot_id")} {_abort(MESSAGE)}""",
    f"{TABLE}_append_only_update": f"BEFORE UPDATE ON {TABLE} {_abort(MESSAGE)}",
    f"{TABLE}_append_only_delete": f"""BEFORE DELETE ON {TABLE}
        FOR EACH ROW WHEN {_PUBLISHED.format(row="OLD.snapshot_id")} {_abort(MESSAGE)}""",
}


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for name, body in SQLITE_TRIGGERS.items():
            schema_editor.execute(f"CREATE TRIGGER {name} {body}")
    else:
        raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    else:
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0008_i13diag_entry_diagnostics"),
    ]

    operations = [
        migrations.CreateModel(
            name="SnapshotRatingsFile",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("content", models.BinaryField()),
                ("sha256", models.CharField(max_length=64)),
                ("size", models.PositiveIntegerField()),
                ("n_ratings", models.PositiveIntegerField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "snapshot",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ratings_file",
                        to="leaderboards.snapshot",
                    ),
                ),
            ],
            options={"ordering": ["snapshot"]},
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
