from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("coaching", "0002_coachapikey_privatenote_coachgrant_rosterathlete"),
    ]

    operations = [
        migrations.AddField(
            model_name="coachapikey",
            name="needs_attention_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="coachapikey",
            name="last_error",
            field=models.CharField(blank=True, max_length=200),
        ),
    ]
