"""PostgreSQL: a NOTIFY on `seal_leaderboard_public` whenever what the public may see can change.

Web processes remember each domain's public snapshot and forget it when this notification arrives
(leaderboards/public_cache.py). Statement-level triggers, after every change to the pointer, to a
snapshot (publishing and visibility are updates) and to a domain (active, slug): PostgreSQL sends
the notification when the writing transaction commits, and never for one rolled back. SQLite has
no NOTIFY: there the public pointer is read on every request.
"""

from django.db import migrations

CHANNEL = "seal_leaderboard_public"
WATCHED = {
    "leaderboards_publishedleaderboard": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "leaderboards_snapshot": "UPDATE OR DELETE OR TRUNCATE",
    "seal_domain": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"""CREATE OR REPLACE FUNCTION seal_leaderboard_public_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END $$ LANGUAGE plpgsql"""
    )
    for table, events in WATCHED.items():
        schema_editor.execute(
            f"CREATE TRIGGER {table}_public_notify AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION seal_leaderboard_public_notify()"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in WATCHED:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_public_notify ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS seal_leaderboard_public_notify()")


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0010_i13repro_seasons"),
        ("seal", "0007_i13style_response_style"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
