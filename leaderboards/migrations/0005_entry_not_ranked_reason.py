from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboards", "0004_append_only_snapshots"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshotentry",
            name="not_ranked_reason",
            field=models.CharField(
                blank=True,
                help_text='Why an unranked model has no rank, e.g. "3 ratings; needs 20"',
                max_length=200,
                null=True,
            ),
        ),
    ]
