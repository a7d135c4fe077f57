# A failed candidate can be used anyway, with the user's reason (issue 13).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('pipeline', '0008_lab_operations_from_the_chain'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='runcandidate',
            name='override_reason',
            field=models.TextField(blank=True, help_text='Why the user picked it although it failed QA (“use anyway”).'),
        ),
        migrations.AddField(
            model_name='runcandidate',
            name='overridden_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='runcandidate',
            name='overridden_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
