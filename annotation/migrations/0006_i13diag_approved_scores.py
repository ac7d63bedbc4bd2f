"""Approved ratings carry the dimension scores of both answers; the copy check covers them.

The columns are nullable and have no default, so SQLite adds them with ALTER TABLE ADD COLUMN
and keeps the table's append-only triggers (a rebuild would drop them). Rows approved before
this migration stay NULL (the triggers refuse UPDATE, and that is the point): readers treat NULL
as "scores not known". The "exact copy of a finally approved assignment" check of 0004 is
reinstalled with the scores added, on both databases: a new copy must hold the assignment's
scores (`{}` when the rating had none), never NULL and never other numbers.
"""

import importlib

from django.db import migrations, models

_base = importlib.import_module("annotation.migrations.0004_append_only_final_ratings")

_SCORES_PG = """
          AND NEW.scores_a = COALESCE(a.scores -> 'a', '{}'::jsonb)
          AND NEW.scores_b = COALESCE(a.scores -> 'b', '{}'::jsonb)
    )"""
_SCORES_SQLITE = """
          AND json(NEW.scores_a) = COALESCE(json_extract(a.scores, '$.a'), '{}')
          AND json(NEW.scores_b) = COALESCE(json_extract(a.scores, '$.b'), '{}')
    )"""


def _extended(condition: str, scores: str) -> str:
    body = condition.rstrip()
    assert body.endswith(")")
    return body[:-1].rstrip() + scores


POSTGRES_COPY_MATCHES = _extended(_base.POSTGRES_COPY_MATCHES, _SCORES_PG)
SQLITE_COPY_MATCHES = _extended(_base.SQLITE_COPY_MATCHES, _SCORES_SQLITE)


def _postgres_guard(condition: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION seal_approved_rating_copy_guard() RETURNS trigger AS $$
BEGIN
    IF NOT {condition} THEN
        RAISE EXCEPTION '{_base.COPY_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _sqlite_guard(condition: str) -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS approved_rating_copies_final;",
        f"""CREATE TRIGGER approved_rating_copies_final BEFORE INSERT ON annotation_approvedrating
            FOR EACH ROW WHEN NOT {condition}
            BEGIN SELECT RAISE(ABORT, '{_base.COPY_MESSAGE}'); END;""",
    ]


def _install(condition_pg: str, condition_sqlite: str):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(_postgres_guard(condition_pg))
        elif vendor == "sqlite":
            for statement in _sqlite_guard(condition_sqlite):
                schema_editor.execute(statement)
        else:
            raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}")

    return run


install = _install(POSTGRES_COPY_MATCHES, SQLITE_COPY_MATCHES)
# Back to 0004's check (before the columns are dropped).
uninstall = _install(_base.POSTGRES_COPY_MATCHES, _base.SQLITE_COPY_MATCHES)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0005_annotator_quality_permission")]

    operations = [
        migrations.AddField(
            model_name="approvedrating",
            name="scores_a",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="approvedrating",
            name="scores_b",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
