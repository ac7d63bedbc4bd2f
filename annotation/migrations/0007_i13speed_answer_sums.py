"""Per (prompt, model) totals of approved answers' scores and tags, filled from the ratings.

A plain new table (no append-only triggers: final approval adds to its rows; the ratings
themselves stay the append-only record). The recompute reads it instead of unpacking every
approved rating's JSON, and unpacks the ratings when the totals do not account for all of them.
"""

import django.db.models.deletion
from django.db import migrations, models

from annotation.answer_sums import answer_sums_add, answer_sums_encode


def _fill(apps, schema_editor):
    approved = apps.get_model("annotation", "ApprovedRating")
    sums_model = apps.get_model("annotation", "ApprovedAnswerSums")
    answers, totals = {}, {}
    rows = approved.objects.values_list(
        "domain_id",
        "prompt_id",
        "model_a_id",
        "model_b_id",
        "scores_a",
        "scores_b",
        "issue_tags_a",
        "issue_tags_b",
    )
    for domain_id, prompt_id, model_a, model_b, scores_a, scores_b, tags_a, tags_b in rows.iterator(
        chunk_size=5000
    ):
        for model_id, scores, tags in ((model_a, scores_a, tags_a), (model_b, scores_b, tags_b)):
            key = (domain_id, prompt_id, model_id)
            answers[key] = answers.get(key, 0) + 1
            answer_sums_add(totals.setdefault(key, {}), scores, tags)
    # One layout per domain (every total seen in it), so its rows are read in one piece.
    names = {}
    for (domain_id, _, _), sums in totals.items():
        names.setdefault(domain_id, set()).update(sums)
    batch = []
    for (domain_id, prompt_id, model_id), count in answers.items():
        keys, packed = answer_sums_encode(totals[(domain_id, prompt_id, model_id)], names[domain_id])
        batch.append(
            sums_model(
                domain_id=domain_id,
                prompt_id=prompt_id,
                model_version_id=model_id,
                answers=count,
                keys=keys,
                totals=packed,
            )
        )
    sums_model.objects.bulk_create(batch, batch_size=2000)


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0006_i13diag_approved_scores'),
        ('seal', '0007_i13style_response_style'),
    ]

    operations = [
        migrations.CreateModel(
            name='ApprovedAnswerSums',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('answers', models.PositiveIntegerField(default=0)),
                ('keys', models.TextField(blank=True, default='')),
                ('totals', models.BinaryField(default=b'')),
                ('domain', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='seal.domain')),
                ('model_version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='seal.modelversion')),
                ('prompt', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='seal.prompt')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('domain', 'prompt', 'model_version'), name='approved_answer_sums_unique')],
            },
        ),
        migrations.RunPython(_fill, migrations.RunPython.noop),
    ]
