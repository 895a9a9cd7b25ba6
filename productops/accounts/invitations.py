"""Invitations: a lead invites someone by e-mail with a role; the signed link expires and works once.

The link carries the invitation's id signed with SECRET_KEY (salted), so it can't be forged or pointed at
another invitation; whether it is still usable (not accepted, revoked or expired) is read from the row,
so revoking or accepting takes effect at once. With single sign-on configured, a pending invitation also
lets that e-mail address sign in through the identity provider with the invited role.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .models import Invitation, Profile
from .roles import Role
from .services import set_role

SALT = "productops.accounts.invitation"


class InvitationError(Exception):
    """The invitation can't be used; the message says why, for the person holding the link."""


def token_for(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk}, salt=SALT, compress=True)


def accept_url(invitation: Invitation) -> str:
    return settings.SITE_URL + reverse("accounts:accept_invitation", args=[token_for(invitation)])


def invite(email: str, role: Role, invited_by: Any) -> Invitation:
    """Create an invitation and queue its e-mail after commit. Refuses an address already in use."""
    email = email.strip().lower()
    if get_user_model().objects.filter(email__iexact=email).exists():
        raise InvitationError(f"{email} already has an account; change its role on this page instead.")
    now = timezone.now()
    with transaction.atomic():
        # A newer invitation replaces any pending one for the same address.
        Invitation.objects.filter(email=email, accepted_at=None, revoked_at=None).update(revoked_at=now)
        invitation = Invitation.objects.create(
            email=email,
            role=role.value,
            invited_by=invited_by,
            expires_at=now + timedelta(seconds=settings.INVITATION_MAX_AGE),
        )
        transaction.on_commit(lambda: _queue_mail(invitation.pk))
    return invitation


def _queue_mail(invitation_id: int) -> None:
    from .tasks import send_invitation

    send_invitation.delay(invitation_id)


def invitation_message(invitation: Invitation) -> EmailMultiAlternatives:
    context = {
        "invitation": invitation,
        "url": accept_url(invitation),
        "role_label": Role(invitation.role).label,
        "inviter": invitation.invited_by.get_username() if invitation.invited_by else "A product-ops lead",
        "sso": sso_enabled(),
    }
    message = EmailMultiAlternatives(
        subject="You're invited to productops",
        body=render_to_string("accounts/email/invitation.txt", context),
        to=[invitation.email],
    )
    message.attach_alternative(render_to_string("accounts/email/invitation.html", context), "text/html")
    return message


def sso_enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def resolve(token: str) -> Invitation:
    """The usable invitation behind a link, or InvitationError with a reason a person can act on."""
    try:
        data = signing.loads(token, salt=SALT)
        invitation = Invitation.objects.get(pk=int(data["i"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, Invitation.DoesNotExist):
        raise InvitationError(
            "This invitation link is not valid. Ask your product-ops lead for a new one."
        ) from None
    state = invitation.state(timezone.now())
    if state == "accepted":
        raise InvitationError("This invitation has already been used. Log in with the account it created.")
    if state == "revoked":
        raise InvitationError("This invitation was withdrawn. Ask your product-ops lead for a new one.")
    if state == "expired":
        raise InvitationError("This invitation has expired. Ask your product-ops lead to send a new one.")
    return invitation


def pending_for_email(email: str) -> Invitation | None:
    return (
        Invitation.objects.filter(
            email__iexact=email.strip(), accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )
        .order_by("-created_at")
        .first()
    )


@transaction.atomic
def accept(invitation: Invitation, *, username: str, password: str | None, timezone_name: str = "UTC") -> Any:
    """Create the invited account (password may be None for an SSO sign-in) and mark the invitation used."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.state(timezone.now()) != "pending":
        raise InvitationError("This invitation has already been used or withdrawn.")
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise InvitationError(f"The username {username!r} is taken; pick another.")
    user = User(username=username, email=locked.email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    set_role(user, Role(locked.role))
    Profile.objects.get_or_create(user=user, defaults={"timezone": timezone_name})
    locked.accepted_at = timezone.now()
    locked.accepted_user = user
    locked.save(update_fields=["accepted_at", "accepted_user"])
    return user


def free_username(email: str) -> str:
    """A username from the address's local part, made unique with a number if needed."""
    base = "".join(ch for ch in email.split("@", 1)[0] if ch.isalnum() or ch in "._-")[:100] or "user"
    User = get_user_model()
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate
