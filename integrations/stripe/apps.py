from django.apps import AppConfig


class StripeIntegrationConfig(AppConfig):
    name = "integrations.stripe"
    # Not "stripe": an app label equal to a library's name invites confusion in migrations and admin.
    label = "stripe_integration"
    verbose_name = "Stripe"
    default_auto_field = "django.db.models.BigAutoField"
