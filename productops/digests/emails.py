"""The digest e-mail: subject, text and HTML from three templates, inline PNG charts, RFC 8058 headers."""

from __future__ import annotations

from email.mime.image import MIMEImage
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .build import Digest
from .links import absolute
from .tokens import make_unsubscribe_token


def unsubscribe_url(user_id: int) -> str:
    return absolute(reverse("digests:unsubscribe", args=[make_unsubscribe_token(user_id)]))


def render_parts(digest: Digest, user: Any, *, inline: bool, test: bool = False) -> dict[str, str]:
    """Subject, text and HTML. `inline` makes images cid: references (e-mail) instead of data: URIs."""
    ctx = {
        "digest": digest,
        "user": user,
        "inline": inline,
        "test": test,
        "unsubscribe_url": unsubscribe_url(user.pk),
    }
    subject = " ".join(render_to_string("emails/digest-subject.txt", ctx).split())
    return {
        "subject": subject,
        "text": render_to_string("emails/digest-body.txt", ctx),
        "html": render_to_string("emails/digest-body.html", ctx),
    }


def digest_message(digest: Digest, user: Any, *, test: bool = False) -> EmailMultiAlternatives:
    parts = render_parts(digest, user, inline=True, test=test)
    unsubscribe = unsubscribe_url(user.pk)
    message = EmailMultiAlternatives(
        subject=parts["subject"],
        body=parts["text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-Productops-Digest": digest.week,
        },
    )
    message.attach_alternative(parts["html"], "text/html")
    # multipart/related around the alternative lets the HTML reference the images by Content-ID.
    message.mixed_subtype = "related"
    for chart in digest.charts:
        image = MIMEImage(chart.png, "png")
        image.add_header("Content-ID", f"<{chart.cid}>")
        image.add_header("Content-Disposition", "inline", filename=chart.cid.split("@")[0] + ".png")
        message.attach(image)
    return message
