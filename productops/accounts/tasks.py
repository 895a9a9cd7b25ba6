from __future__ import annotations

from celery import shared_task

from .models import Invitation


@shared_task(
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def send_invitation(invitation_id: int) -> bool:
    """Send an invitation's e-mail; an SMTP failure retries with backoff. A withdrawn invitation sends nothing."""
    from .invitations import invitation_message

    invitation = Invitation.objects.filter(pk=invitation_id, accepted_at=None, revoked_at=None).first()
    if invitation is None:
        return False
    invitation_message(invitation).send()
    return True
