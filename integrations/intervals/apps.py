from django.apps import AppConfig


class IntervalsConfig(AppConfig):
    name = "integrations.intervals"
    label = "intervals"
    verbose_name = "Intervals.icu"
    default_auto_field = "django.db.models.BigAutoField"
