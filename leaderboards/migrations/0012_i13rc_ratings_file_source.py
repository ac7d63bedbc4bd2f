"""The ratings file is formatted at its first download, from a source kept at publishing.

A snapshot's SnapshotRatingsSource (the file's header and the recompute's sorted arrays) is
inserted with the snapshot and is append-only like its other parts (the guard functions of
migration 0004). The file itself may now be inserted after the snapshot is published, once
(one row per snapshot), and only for a snapshot that has a source, as charts are drawn after
publishing; it can still be neither changed nor deleted. A snapshot published without a source
(all those before this migration have their file already) gets no file later.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

SOURCE = "leaderboards_snapshotratingssource"
FILE = "leaderboards_snapshotratingsfile"
MESSAGE = "published leaderboard snapshots are append-only"
_PUBLISHED = "COALESCE((SELECT is_published FROM leaderboards_snapshot WHERE id = {row}), 0)"
_NO_SOURCE = f"NOT EXISTS (SELECT 1 FROM {SOURCE} WHERE snapshot_id = NEW.snapshot_id)"  # noqa: S608

POSTGRES_UP = f"""
CREATE TRIGGER {SOURCE}_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON {SOURCE}
    FOR EACH ROW EXECUTE FUNCTION seal_snapshot_part_guard();
CREATE TRIGGER {SOURCE}_no_truncate
    BEFORE TRUNCATE ON {SOURCE}
    FOR EACH STATEMENT EXECUTE FUNCTION seal_leaderboards_refuse_truncate();
CREATE OR REPLACE FUNCTION seal_ratings_file_guard() RETURNS trigger AS $$
DECLARE
    published boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT is_published INTO published FROM leaderboards_snapshot WHERE id = NEW.snapshot_id;
        IF published AND {_NO_SOURCE} THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    SELECT is_published INTO published FROM leaderboards_snapshot WHERE id = OLD.snapshot_id;
    IF published THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS {FILE}_append_only ON {FILE};
CREATE TRIGGER {FILE}_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON {FILE}
    FOR EACH ROW EXECUTE FUNCTION seal_ratings_file_guard();
"""  # noqa: S608 - table names and constants only
POSTGRES_DOWN = f"""
DROP TRIGGER IF EXISTS {SOURCE}_append_only ON {SOURCE};
DROP TRIGGER IF EXISTS {SOURCE}_no_truncate ON {SOURCE};
DROP TRIGGER IF EXISTS {FILE}_append_only ON {FILE};
CREATE TRIGGER {FILE}_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON {FILE}
    FOR EACH ROW EXECUTE FUNCTION seal_snapshot_part_guard();
DROP FUNCTION IF EXISTS seal_ratings_file_guard();
"""


def _abort(message: str) -> str:
    return f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"


SQLITE_SOURCE_TRIGGERS = {
    f"{SOURCE}_append_only_insert": f"""BEFORE INSERT ON {SOURCE}
        FOR EACH ROW WHEN {_PUBLISHED.format(row="NEW.snapshot_id")} {_abort(MESSAGE)}""",
    f"{SOURCE}_append_only_update": f"BEFORE UPDATE ON {SOURCE} {_abort(MESSAGE)}",
    f"{SOURCE}_append_only_delete": f"""BEFORE DELETE ON {SOURCE}
        FOR EACH ROW WHEN {_PUBLISHED.format(row="OLD.snapshot_id")} {_abort(MESSAGE)}""",
}
SQLITE_FILE_INSERT = f"{FILE}_append_only_insert"
SQLITE_FILE_INSERT_NOW = f"""BEFORE INSERT ON {FILE}
    FOR EACH ROW WHEN {_PUBLISHED.format(row="NEW.snapshot_id")} AND {_NO_SOURCE}
    {_abort(MESSAGE)}"""
SQLITE_FILE_INSERT_BEFORE = f"""BEFORE INSERT ON {FILE}
    FOR EACH ROW WHEN {_PUBLISHED.format(row="NEW.snapshot_id")} {_abort(MESSAGE)}"""


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for name, body in SQLITE_SOURCE_TRIGGERS.items():
            schema_editor.execute(f"CREATE TRIGGER {name} {body}")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_FILE_INSERT};")
        schema_editor.execute(f"CREATE TRIGGER {SQLITE_FILE_INSERT} {SQLITE_FILE_INSERT_NOW}")
    else:
        raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    else:
        for name in SQLITE_SOURCE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_FILE_INSERT};")
        schema_editor.execute(f"CREATE TRIGGER {SQLITE_FILE_INSERT} {SQLITE_FILE_INSERT_BEFORE}")


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0011_i13read_public_notify"),
    ]

    operations = [
        migrations.CreateModel(
            name="SnapshotRatingsSource",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("header", models.JSONField()),
                ("packed", models.BinaryField()),
                ("n_ratings", models.PositiveIntegerField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "snapshot",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ratings_source",
                        to="leaderboards.snapshot",
                    ),
                ),
            ],
            options={"ordering": ["snapshot"]},
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
