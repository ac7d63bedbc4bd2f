"""Database triggers: a finally approved rating can no longer change, whatever writes to it.

They hold against the ORM's save(), queryset.update() and raw SQL alike, on PostgreSQL and on the
embedded SQLite. The approved-rating copy is append-only.

On SQLite, a later migration that rebuilds annotation_assignment (most AlterField operations) drops
these triggers with the old table: such a migration must install them again. The immutability tests
run on both databases and catch a missing trigger.
"""

from django.db import migrations

MESSAGE = "finally approved ratings are immutable"

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION seal_refuse_final_assignment_change() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'approved' THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER assignment_final_immutable
    BEFORE UPDATE OR DELETE ON annotation_assignment
    FOR EACH ROW EXECUTE FUNCTION seal_refuse_final_assignment_change();

CREATE OR REPLACE FUNCTION seal_refuse_approved_rating_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER approved_rating_append_only
    BEFORE UPDATE OR DELETE ON annotation_approvedrating
    FOR EACH ROW EXECUTE FUNCTION seal_refuse_approved_rating_change();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS assignment_final_immutable ON annotation_assignment;
DROP FUNCTION IF EXISTS seal_refuse_final_assignment_change();
DROP TRIGGER IF EXISTS approved_rating_append_only ON annotation_approvedrating;
DROP FUNCTION IF EXISTS seal_refuse_approved_rating_change();
"""

SQLITE_UP = [
    f"""CREATE TRIGGER assignment_final_immutable_update BEFORE UPDATE ON annotation_assignment
        FOR EACH ROW WHEN OLD.status = 'approved'
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    f"""CREATE TRIGGER assignment_final_immutable_delete BEFORE DELETE ON annotation_assignment
        FOR EACH ROW WHEN OLD.status = 'approved'
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    f"""CREATE TRIGGER approved_rating_append_only_update BEFORE UPDATE
        ON annotation_approvedrating
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
    f"""CREATE TRIGGER approved_rating_append_only_delete BEFORE DELETE
        ON annotation_approvedrating
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;""",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS assignment_final_immutable_update;",
    "DROP TRIGGER IF EXISTS assignment_final_immutable_delete;",
    "DROP TRIGGER IF EXISTS approved_rating_append_only_update;",
    "DROP TRIGGER IF EXISTS approved_rating_append_only_delete;",
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
    dependencies = [("annotation", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
