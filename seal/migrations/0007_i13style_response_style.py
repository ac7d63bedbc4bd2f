"""Style counts per collected answer (ResponseStyle), counted for every answer stored so far."""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 500


def styles_backfill(apps, schema_editor):
    # The counting rules live in seal/answer_style.py (pure Python, no models), so the
    # migration counts exactly what the services count.
    from seal.answer_style import STYLE_VERSION, answer_style

    Response = apps.get_model("seal", "Response")
    ResponseStyle = apps.get_model("seal", "ResponseStyle")
    last_pk = 0
    while True:
        batch = list(
            Response.objects.filter(status="ok", pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "text")[:BATCH]
        )
        if not batch:
            return
        rows = []
        for pk, text in batch:
            style = answer_style(text)
            rows.append(
                ResponseStyle(
                    response_id=pk,
                    tokens=style.tokens,
                    headers=style.headers,
                    list_items=style.list_items,
                    bold=style.bold,
                    code_blocks=style.code_blocks,
                    version=STYLE_VERSION,
                )
            )
        ResponseStyle.objects.bulk_create(rows, ignore_conflicts=True)
        last_pk = batch[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("seal", "0006_i12sched_scheduling"),
    ]

    operations = [
        migrations.CreateModel(
            name="ResponseStyle",
            fields=[
                (
                    "response",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="style",
                        serialize=False,
                        to="seal.response",
                    ),
                ),
                ("tokens", models.PositiveIntegerField()),
                ("headers", models.PositiveIntegerField()),
                ("list_items", models.PositiveIntegerField()),
                ("bold", models.PositiveIntegerField()),
                ("code_blocks", models.PositiveIntegerField()),
                ("version", models.PositiveSmallIntegerField(help_text="Counting rules version")),
            ],
            options={"ordering": ["response"]},
        ),
        migrations.RunPython(styles_backfill, migrations.RunPython.noop, elidable=True),
    ]
