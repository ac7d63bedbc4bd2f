"""Database triggers: published snapshots are append-only, and so is the public pointer's history.

0002 refused UPDATE only; rows could still be added to or deleted from a published snapshot, the
pointer moved or deleted by SQL, and every table truncated. Publishing now has one shape, in one
transaction: insert the snapshot unpublished, insert its boards and entries, mark it published,
switch the pointer. The triggers hold that shape against the ORM and raw SQL alike:

- snapshot: inserted unpublished; only `is_published` (false to true, once it has a board) and the
  visibility fields (is_hidden, hidden_at, hidden_by) change; a published one is never deleted
  (an unpublished one, abandoned in its transaction, may be). On PostgreSQL a deferred check
  refuses a commit that leaves a snapshot unpublished, so boards can never be added later.
- boards and entries: inserted only into an unpublished snapshot (an entry only into a board of
  its own snapshot, under the board's key), never updated, never deleted once published.
- charts: drawn from a published board's entries after publishing (or on first view), so they may
  be inserted into a ranked board of a published snapshot, once per kind (a unique constraint);
  never updated, never deleted once published.
- pointer: points only at a published, visible snapshot of its own domain; moves forward (to a
  newer snapshot) or to the domain's latest visible snapshot (what hiding and showing do); never
  changes domain; is deleted only when its domain has no visible snapshot left.
- TRUNCATE (PostgreSQL; SQLite has none) is refused on every snapshot table and the pointer unless
  the transaction set `seal.allow_truncate` to on: only the test suite's flush between
  transactional tests does (tests/conftest.py), the way it would drop and recreate the database.

On SQLite, a later migration that rebuilds one of these tables drops its triggers with it: such a
migration must install them again. tests/leaderboards/test_append_only.py runs on both databases.
"""

import importlib

from django.db import migrations, models

MESSAGE = "published leaderboard snapshots are append-only"
POINTER_MESSAGE = (
    "the public pointer only moves to a newer published, visible snapshot of its own domain"
)
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
PARTS = ("leaderboards_snapshotboard", "leaderboards_snapshotentry")
TRUNCATE_GUARDED = (
    "leaderboards_snapshot",
    "leaderboards_snapshotboard",
    "leaderboards_snapshotentry",
    "leaderboards_snapshotchart",
    "leaderboards_publishedleaderboard",
)

# The domain's latest visible published snapshot, as leaderboards.services._latest_visible picks it.
LATEST_VISIBLE = """(SELECT s.id FROM leaderboards_snapshot s
        WHERE s.domain_id = {domain} AND s.is_published AND NOT s.is_hidden
        ORDER BY s.created_at DESC, s.id DESC LIMIT 1)"""

_FIXED_JSONB = " - ".join(["{row}", *(f"'{c}'" for c in (*VISIBILITY, "is_published"))])

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION seal_snapshot_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_published THEN
            RAISE EXCEPTION '{MESSAGE}: a snapshot is inserted unpublished'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF ({_FIXED_JSONB.format(row="to_jsonb(NEW)")})
           IS DISTINCT FROM ({_FIXED_JSONB.format(row="to_jsonb(OLD)")})
           OR (OLD.is_published AND NOT NEW.is_published) THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF NEW.is_published AND NOT OLD.is_published AND NOT EXISTS (
            SELECT 1 FROM leaderboards_snapshotboard WHERE snapshot_id = NEW.id
        ) THEN
            RAISE EXCEPTION '{MESSAGE}: a snapshot is published with its boards'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.is_published THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER snapshot_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON leaderboards_snapshot
    FOR EACH ROW EXECUTE FUNCTION seal_snapshot_guard();

CREATE OR REPLACE FUNCTION seal_snapshot_published_by_commit() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM leaderboards_snapshot WHERE id = NEW.id AND NOT is_published
    ) THEN
        RAISE EXCEPTION '{MESSAGE}: a snapshot is published in the transaction that writes it'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER snapshot_published_by_commit
    AFTER INSERT ON leaderboards_snapshot
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION seal_snapshot_published_by_commit();

CREATE OR REPLACE FUNCTION seal_snapshot_part_guard() RETURNS trigger AS $$
DECLARE
    published boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT is_published INTO published FROM leaderboards_snapshot WHERE id = NEW.snapshot_id;
        IF published THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF TG_TABLE_NAME = 'leaderboards_snapshotentry' THEN
            IF NOT EXISTS (
                SELECT 1 FROM leaderboards_snapshotboard b
                WHERE b.id = NEW.board_id AND b.snapshot_id = NEW.snapshot_id
                  AND b.key = NEW.board_key
            ) THEN
                RAISE EXCEPTION '{MESSAGE}: an entry belongs to a board of its own snapshot'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
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
""" + "".join(
    f"""
CREATE TRIGGER {table}_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION seal_snapshot_part_guard();
"""
    for table in PARTS
) + f"""
CREATE OR REPLACE FUNCTION seal_snapshot_chart_guard() RETURNS trigger AS $$
DECLARE
    published boolean;
    board_status text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT s.is_published, b.status INTO published, board_status
            FROM leaderboards_snapshotboard b JOIN leaderboards_snapshot s ON s.id = b.snapshot_id
            WHERE b.id = NEW.board_id;
        IF published AND board_status <> 'ranked' THEN
            RAISE EXCEPTION '{MESSAGE}: only a ranked board has charts'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    SELECT s.is_published INTO published
        FROM leaderboards_snapshotboard b JOIN leaderboards_snapshot s ON s.id = b.snapshot_id
        WHERE b.id = OLD.board_id;
    IF published THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER leaderboards_snapshotchart_append_only
    BEFORE INSERT OR UPDATE OR DELETE ON leaderboards_snapshotchart
    FOR EACH ROW EXECUTE FUNCTION seal_snapshot_chart_guard();

CREATE OR REPLACE FUNCTION seal_published_pointer_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF {LATEST_VISIBLE.format(domain="OLD.domain_id")} IS NOT NULL THEN
            RAISE EXCEPTION 'the public pointer is removed only when its domain has no visible '
                'snapshot left' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM leaderboards_snapshot s
        WHERE s.id = NEW.snapshot_id AND s.domain_id = NEW.domain_id
          AND s.is_published AND NOT s.is_hidden
    ) OR (
        TG_OP = 'UPDATE' AND (
            NEW.domain_id <> OLD.domain_id
            OR (
                NEW.snapshot_id < OLD.snapshot_id
                AND NEW.snapshot_id IS DISTINCT FROM {LATEST_VISIBLE.format(domain="NEW.domain_id")}
            )
        )
    ) THEN
        RAISE EXCEPTION '{POINTER_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER published_pointer_guard
    BEFORE INSERT OR UPDATE OR DELETE ON leaderboards_publishedleaderboard
    FOR EACH ROW EXECUTE FUNCTION seal_published_pointer_guard();

CREATE OR REPLACE FUNCTION seal_leaderboards_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('seal.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
        MESSAGE = '{MESSAGE}: TRUNCATE of ' || TG_TABLE_NAME || ' is refused';
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_no_truncate
    BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION seal_leaderboards_refuse_truncate();
"""
    for table in TRUNCATE_GUARDED
)

POSTGRES_DOWN = (
    """
DROP TRIGGER IF EXISTS snapshot_append_only ON leaderboards_snapshot;
DROP TRIGGER IF EXISTS snapshot_published_by_commit ON leaderboards_snapshot;
DROP TRIGGER IF EXISTS leaderboards_snapshotchart_append_only ON leaderboards_snapshotchart;
DROP TRIGGER IF EXISTS published_pointer_guard ON leaderboards_publishedleaderboard;
"""
    + "".join(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};\n" for table in PARTS)
    + "".join(
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n" for table in TRUNCATE_GUARDED
    )
    + """
DROP FUNCTION IF EXISTS seal_snapshot_guard();
DROP FUNCTION IF EXISTS seal_snapshot_published_by_commit();
DROP FUNCTION IF EXISTS seal_snapshot_part_guard();
DROP FUNCTION IF EXISTS seal_snapshot_chart_guard();
DROP FUNCTION IF EXISTS seal_published_pointer_guard();
DROP FUNCTION IF EXISTS seal_leaderboards_refuse_truncate();
"""
)


def _abort(message: str) -> str:
    return f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"


_PUBLISHED = "COALESCE((SELECT is_published FROM leaderboards_snapshot WHERE id = {row}), 0)"
_CHART_BOARD = "(SELECT {column} FROM {join} WHERE b.id = {row}.board_id)"
_CHART_JOIN = "leaderboards_snapshotboard b JOIN leaderboards_snapshot s ON s.id = b.snapshot_id"

SQLITE_TRIGGERS = {
    "snapshot_insert_unpublished": f"""BEFORE INSERT ON leaderboards_snapshot
        FOR EACH ROW WHEN NEW.is_published
        {_abort(MESSAGE + ": a snapshot is inserted unpublished")}""",
    "snapshot_append_only_update": f"""BEFORE UPDATE ON leaderboards_snapshot
        FOR EACH ROW WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in SNAPSHOT_FIXED)}
            OR (OLD.is_published AND NOT NEW.is_published)
        {_abort(MESSAGE)}""",
    "snapshot_published_with_boards": f"""BEFORE UPDATE ON leaderboards_snapshot
        FOR EACH ROW WHEN NEW.is_published AND NOT OLD.is_published AND NOT EXISTS (
            SELECT 1 FROM leaderboards_snapshotboard WHERE snapshot_id = NEW.id)
        {_abort(MESSAGE + ": a snapshot is published with its boards")}""",
    "snapshot_append_only_delete": f"""BEFORE DELETE ON leaderboards_snapshot
        FOR EACH ROW WHEN OLD.is_published
        {_abort(MESSAGE)}""",
    **{
        f"{table}_append_only_insert": f"""BEFORE INSERT ON {table}
        FOR EACH ROW WHEN {_PUBLISHED.format(row="NEW.snapshot_id")}
        {_abort(MESSAGE)}"""
        for table in PARTS
    },
    **{f"{table}_append_only_update": f"BEFORE UPDATE ON {table} {_abort(MESSAGE)}" for table in PARTS},
    **{
        f"{table}_append_only_delete": f"""BEFORE DELETE ON {table}
        FOR EACH ROW WHEN {_PUBLISHED.format(row="OLD.snapshot_id")}
        {_abort(MESSAGE)}"""
        for table in PARTS
    },
    "leaderboards_snapshotentry_own_board": f"""BEFORE INSERT ON leaderboards_snapshotentry
        FOR EACH ROW WHEN NOT EXISTS (
            SELECT 1 FROM leaderboards_snapshotboard b
            WHERE b.id = NEW.board_id AND b.snapshot_id = NEW.snapshot_id AND b.key = NEW.board_key)
        {_abort(MESSAGE + ": an entry belongs to a board of its own snapshot")}""",
    "leaderboards_snapshotchart_append_only_insert": f"""BEFORE INSERT
        ON leaderboards_snapshotchart
        FOR EACH ROW WHEN COALESCE({_CHART_BOARD.format(
            column="s.is_published AND b.status <> 'ranked'", join=_CHART_JOIN, row="NEW"
        )}, 0)
        {_abort(MESSAGE + ": only a ranked board has charts")}""",
    "leaderboards_snapshotchart_append_only_update": f"""BEFORE UPDATE
        ON leaderboards_snapshotchart {_abort(MESSAGE)}""",
    "leaderboards_snapshotchart_append_only_delete": f"""BEFORE DELETE
        ON leaderboards_snapshotchart
        FOR EACH ROW WHEN COALESCE({_CHART_BOARD.format(
            column="s.is_published", join=_CHART_JOIN, row="OLD"
        )}, 0)
        {_abort(MESSAGE)}""",
    "published_pointer_target": f"""BEFORE INSERT ON leaderboards_publishedleaderboard
        FOR EACH ROW WHEN NOT EXISTS (
            SELECT 1 FROM leaderboards_snapshot s
            WHERE s.id = NEW.snapshot_id AND s.domain_id = NEW.domain_id
              AND s.is_published AND NOT s.is_hidden)
        {_abort(POINTER_MESSAGE)}""",
    "published_pointer_move": f"""BEFORE UPDATE ON leaderboards_publishedleaderboard
        FOR EACH ROW WHEN NOT EXISTS (
            SELECT 1 FROM leaderboards_snapshot s
            WHERE s.id = NEW.snapshot_id AND s.domain_id = NEW.domain_id
              AND s.is_published AND NOT s.is_hidden)
            OR NEW.domain_id IS NOT OLD.domain_id
            OR (NEW.snapshot_id < OLD.snapshot_id
                AND NEW.snapshot_id IS NOT {LATEST_VISIBLE.format(domain="NEW.domain_id")})
        {_abort(POINTER_MESSAGE)}""",
    "published_pointer_delete": f"""BEFORE DELETE ON leaderboards_publishedleaderboard
        FOR EACH ROW WHEN {LATEST_VISIBLE.format(domain="OLD.domain_id")} IS NOT NULL
        {_abort("the public pointer is removed only when its domain has no visible snapshot left")}""",
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
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    else:
        for name in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


# 0002's update-only triggers are replaced (its snapshot trigger would refuse publishing).
_immutable = importlib.import_module("leaderboards.migrations.0002_immutable_snapshots")


class Migration(migrations.Migration):
    dependencies = [("leaderboards", "0003_recompute_trigger_sweep")]

    operations = [
        migrations.RunPython(_immutable.uninstall, _immutable.install, elidable=False),
        # Every snapshot written before this migration was published with its pointer.
        migrations.AddField(
            model_name="snapshot",
            name="is_published",
            field=models.BooleanField(default=True),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="snapshot", name="is_published", field=models.BooleanField(default=False)
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
