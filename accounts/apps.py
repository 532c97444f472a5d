from typing import Any

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.account.signals import email_changed

        email_changed.connect(_address_changed, dispatch_uid="accounts.follow_address_change")


def _address_changed(sender: Any, *, user: Any, to_email_address: Any, **kwargs: Any) -> None:
    """allauth made another address the account's primary one (and so `user.email`)."""
    from accounts.actions import follow_address_change

    follow_address_change(user, to_email_address.email)
