from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("django_imcallback", "0009_group_sync")]

    operations = [
        migrations.AddField(
            model_name="callbackevent",
            name="outcome",
            field=models.JSONField(
                blank=True,
                help_text=(
                    "What storing it did: its status, note and signal's arguments, which a "
                    "task worker or a replay announces again. Empty until its storing commits."
                ),
                null=True,
                verbose_name="stored outcome",
            ),
        ),
    ]
