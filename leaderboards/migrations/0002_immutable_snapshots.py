"""Database triggers: a published snapshot cannot change, whatever writes to it.

Only a snapshot's visibility (is_hidden, hidden_at, hidden_by) may be updated; its boards, entries
and charts refuse every UPDATE. They hold against save(), queryset.update() and raw SQL alike, on
PostgreSQL and on the embedded SQLite. Deleting old snapshots stays possible (retention); the one
the public sees is protected by its pointer's foreign key.

On SQLite, a later migration that rebuilds one of these tables drops its triggers with it: such a
migration must install them again. The immutability tests run on both databases.
"""

from django.db import migrations

MESSAGE = "published leaderboard snapshots are immutable"
VISIBILITY = ("is_hidden", "hidden_at", "hidden_by_id")
SNAPSHOT_FIXED = (
    "id",
    "domain_id",
    "input_fingerprint",
    "created_at",
    "config",
    "agreement",
    "n_ratings",
    "n_prompts",
    "n_models",
    "ratings_through",
)
FROZEN_TABLES = (
    "leaderboards_snapshotboard",
    "leaderboards_snapshotentry",
    "leaderboards_snapshotchart",
)

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION seal_refuse_snapshot_change() RETURNS trigger AS $$
BEGIN
    IF (to_jsonb(NEW) - '{VISIBILITY[0]}' - '{VISIBILITY[1]}' - '{VISIBILITY[2]}')
       IS DISTINCT FROM
       (to_jsonb(OLD) - '{VISIBILITY[0]}' - '{VISIBILITY[1]}' - '{VISIBILITY[2]}') THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER snapshot_immutable
    BEFORE UPDATE ON leaderboards_snapshot
    FOR EACH ROW EXECUTE FUNCTION seal_refuse_snapshot_change();

CREATE OR REPLACE FUNCTION seal_refuse_snapshot_part_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_immutable
    BEFORE UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION seal_refuse_snapshot_part_change();
"""
    for table in FROZEN_TABLES
)

POSTGRES_DOWN = "DROP TRIGGER IF EXISTS snapshot_immutable ON leaderboards_snapshot;\n" + "".join(
    f"DROP TRIGGER IF EXISTS {table}_immutable ON {table};\n" for table in FROZEN_TABLES
) + """
DROP FUNCTION IF EXISTS seal_refuse_snapshot_change();
DROP FUNCTION IF EXISTS seal_refuse_snapshot_part_change();
"""

SQLITE_UP = [
    f"""CREATE TRIGGER snapshot_immutable BEFORE UPDATE ON leaderboards_snapshot
        FOR EACH ROW WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in SNAPSHOT_FIXED)}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    *(
        f"""CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;"""
        for table in FROZEN_TABLES
    ),
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS snapshot_immutable;",
    *(f"DROP TRIGGER IF EXISTS {table}_immutable;" for table in FROZEN_TABLES),
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"No immutability triggers for database vendor {vendor!r}")


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [POSTGRES_DOWN] if vendor == "postgresql" else SQLITE_DOWN
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("leaderboards", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
