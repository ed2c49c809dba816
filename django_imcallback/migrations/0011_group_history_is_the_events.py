from django.db import migrations


class Migration(migrations.Migration):
    """A group's history is the events about it that changed it (their kept outcomes)."""

    dependencies = [("django_imcallback", "0010_event_outcome")]

    operations = [migrations.DeleteModel(name="IMGroupChange")]
