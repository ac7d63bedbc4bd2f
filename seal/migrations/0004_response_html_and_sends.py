"""Answers carry their HTML, rendered once when stored; responses count how often they were sent.

The data step renders the HTML of answers stored before this migration, with the same bounded
renderer the collector uses (a child process, killed on timeout; slow shapes fall back to the
escaped text), so no page ever renders an answer per view. It runs once, inside `migrate`.
"""

from django.conf import settings
from django.db import migrations, models

from seal.rendering import AnswerRenderer, RenderLimits

BATCH = 200


def answers_html_backfill(apps, schema_editor):
    Response = apps.get_model("seal", "Response")
    limits = RenderLimits(
        timeout_seconds=float(settings.SEAL_RENDER_TIMEOUT_SECONDS),
        max_markdown_chars=settings.SEAL_RENDER_MAX_MARKDOWN_CHARS,
        max_brackets=settings.SEAL_RENDER_MAX_BRACKETS,
        max_html_chars=settings.SEAL_RENDER_MAX_HTML_CHARS,
    )
    todo = Response.objects.filter(status="ok", html="").exclude(text="").order_by("pk")
    last_pk = 0
    with AnswerRenderer(limits) as renderer:
        while True:
            batch = list(todo.filter(pk__gt=last_pk).only("pk", "text")[:BATCH])
            if not batch:
                return
            for response in batch:
                response.html = renderer.render(response.text).html
            Response.objects.bulk_update(batch, ["html"])
            last_pk = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("seal", "0003_submission_comparisons_scheduled_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="response",
            name="html",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="response",
            name="sends",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(answers_html_backfill, migrations.RunPython.noop, elidable=True),
    ]
