from django.apps import AppConfig


class CoachingConfig(AppConfig):
    name = "coaching"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import token_regenerated
        from coaching.actions import carry_over_coach_token

        token_regenerated.connect(carry_over_coach_token, dispatch_uid="coaching-carry-over-coach-token")
