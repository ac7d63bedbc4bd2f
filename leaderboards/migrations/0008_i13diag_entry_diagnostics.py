from django.db import migrations, models


class Migration(migrations.Migration):
    """A nullable column without default: SQLite adds it in place and keeps the triggers."""

    dependencies = [
        ("leaderboards", "0007_i13style_style_control"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshotentry",
            name="diagnostics",
            field=models.JSONField(
                blank=True,
                help_text="Rubric-score means and issue-tag rates with 95% intervals; category "
                "boards also the difference from the model's overall standing",
                null=True,
            ),
        ),
    ]
