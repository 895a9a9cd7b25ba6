from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import models


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    """Every IANA timezone this Python knows (scanned once per process: the scan walks tzdata's files)."""
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class Profile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(max_length=64, default="UTC")

    def __str__(self) -> str:
        return f"{self.user} ({self.timezone})"


class TwoFactor(models.Model):
    """A local account's TOTP secret (RFC 6238), encrypted at rest like connection secrets.

    `last_step` is the last 30-second step accepted, so a code can't be replayed within its window.
    Accounts signing in through single sign-on rely on the identity provider's own second factor.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factor")
    secret_encrypted = models.TextField()
    enabled_at = models.DateTimeField(auto_now_add=True)
    last_step = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"TOTP for {self.user}"


class Invitation(models.Model):
    """A lead's invitation: a signed, expiring link sent by e-mail; the role is chosen at invite time."""

    email = models.EmailField()
    role = models.CharField(max_length=8, choices=[("pm", "PM"), ("lead", "Product ops lead")])
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation for {self.email} ({self.role})"

    def state(self, now: Any) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"
