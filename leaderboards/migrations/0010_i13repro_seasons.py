"""Seasons: a snapshot records the prompt set it was computed from.

The column is nullable without default, so SQLite adds it with ALTER TABLE ADD COLUMN and keeps
the append-only triggers of migration 0004. On PostgreSQL the snapshot guard already compares
every column but the visibility ones, so the new column is fixed once inserted; on SQLite the
update trigger lists its columns, so one more trigger fixes this one.
"""

import django.db.models.deletion
from django.db import migrations, models

MESSAGE = "published leaderboard snapshots are append-only"
TRIGGER = "snapshot_prompt_set_fixed"


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON leaderboards_snapshot "
            "FOR EACH ROW WHEN NEW.prompt_set_id IS NOT OLD.prompt_set_id "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER};")


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0009_i13repro_ratings_file"),
        ("seal", "0007_i13style_response_style"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshot",
            name="prompt_set",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="seal.promptset",
            ),
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
