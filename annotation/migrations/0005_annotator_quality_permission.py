from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0004_append_only_final_ratings"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="annotatorprofile",
            options={
                "ordering": ["user__username"],
                "permissions": [
                    (
                        "view_annotator_quality",
                        "Can view annotator quality (agreement, gold accuracy)",
                    )
                ],
            },
        ),
    ]
