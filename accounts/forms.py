"""allauth's forms, with the typed address made canonical before any lookup and before any email is sent.

allauth lower-cases what was typed and then compares exactly, but it sends some emails to the address as
typed (the password reset goes to `ResetPasswordForm.cleaned_data["email"]`, which allauth leaves as
typed), and its login form never calls the adapter's `clean_email`. These subclasses close both gaps:
what allauth looks up, rate-limits and mails is the canonical address (accounts.identity), which for any
existing account is exactly the stored one.
"""

from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from allauth.account.adapter import get_adapter
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest


class LoginForm(allauth_forms.LoginForm):
    def clean_login(self) -> str:
        return str(get_adapter().clean_email(super().clean_login()))


class SignupForm(allauth_forms.SignupForm):
    def try_save(self, request: HttpRequest) -> Any:
        if self.account_already_exists:
            # Creating an account hashes the password (hundreds of milliseconds); answering "check your
            # email" for a registered address did not, so the response time told who is registered. Do the
            # same work and throw it away.
            make_password(self.cleaned_data.get("password1"))
        return super().try_save(request)


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    def clean_email(self) -> str:
        # allauth looks users up by the adapter-cleaned address but returns (and mails) the typed one.
        self.cleaned_data["email"] = get_adapter().clean_email(self.cleaned_data["email"])
        return str(super().clean_email())


class ChangeEmailForm(allauth_forms.ChangeEmailForm):
    def clean_email(self) -> str:
        # allauth's own version never calls the adapter's clean_email (only used with verification by code).
        self.cleaned_data["email"] = get_adapter().clean_email(self.cleaned_data["email"])
        return str(super().clean_email())
