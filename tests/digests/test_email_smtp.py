"""End to end: a digest travels through Django's SMTP backend to a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client, override_settings
from django.urls import resolve

from productops.digests import tasks
from productops.digests.models import Delivery, DeliveryStatus, Subscription

from .conftest import NOW, make_subscriber

SITE = "https://productops.example.com"


@pytest.mark.django_db
@override_settings(SITE_URL=SITE)
def test_digest_arrives_over_smtp_with_parts_images_headers_and_links(
    world: dict[str, Any], smtp_server: Any, eager_celery: None
) -> None:
    handler, _ = smtp_server
    pm = make_subscriber("pm", "Europe/London", weekday=0, hour=9)
    pm.digest.products.set([world["checkout"]])

    with time_machine.travel(NOW, tick=False):  # Monday 09:30 in London: pm's hour has come
        tasks.send_due_digests.delay()

    assert len(handler.messages) == 1
    msg = email.message_from_bytes(handler.messages[0], policy=email.policy.default)

    # Headers (RFC 8058 one-click unsubscribe with an HTTPS URL).
    assert msg["To"] == "pm@example.com"
    assert msg["Subject"].startswith("Checkout conversion fell 25%")
    # Long headers are folded; the unfolded value may start with folding whitespace (RFC 5322 CFWS).
    unsubscribe = re.fullmatch(r"<(https://[^>]+)>", msg["List-Unsubscribe"].strip())
    assert unsubscribe and unsubscribe.group(1).startswith(f"{SITE}/digests/unsubscribe/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Structure: multipart/related holding the text/HTML alternative and the inline PNGs.
    assert msg.get_content_type() == "multipart/related"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    text_body, html_body = text.get_content(), html.get_content()
    assert "Checkout conversion fell 25% after the new-checkout flag" in text_body
    assert "Checkout conversion fell 25% after the new-checkout flag" in html_body
    assert "Around new-checkout flag" in html_body

    images = {
        part["Content-ID"].strip("<>"): part for part in msg.walk() if part.get_content_type() == "image/png"
    }
    referenced = set(re.findall(r'src="cid:([^"]+)"', html_body))
    assert len(images) >= 2  # the KPI sparkline(s) and the top anomaly's chart
    assert referenced == set(images)
    assert any(cid.startswith("anomaly-") for cid in images)
    for part in images.values():
        assert part.get_content_disposition() == "inline"
        assert part.get_content().startswith(b"\x89PNG")
    # Nothing external: no http(s) images, stylesheets or fonts.
    assert not re.search(r'<img[^>]+src="https?:', html_body)
    assert "<link" not in html_body and "@import" not in html_body

    # Every link goes to this site and resolves to a page.
    links = set(re.findall(r'href="([^"]+)"', html_body)) | set(re.findall(r"https://\S+", text_body))
    assert len(links) > 5
    for link in links:
        parts = urlsplit(link.replace("&amp;", "&"))
        assert f"{parts.scheme}://{parts.netloc}" == SITE, link
        resolve(parts.path)

    # The header's URL unsubscribes with a bare POST, as a mail provider sends it.
    path = urlsplit(unsubscribe.group(1)).path
    assert Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Subscription.objects.get(user=pm).enabled is False
    assert Delivery.objects.get(user=pm).status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_quiet_week_sends_a_short_all_quiet_note(smtp_server: Any, eager_celery: None) -> None:
    handler, _ = smtp_server
    make_subscriber("pm", "UTC")
    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 1, tzinfo=dt.UTC), tick=False):
        tasks.send_due_digests.delay()
    msg = email.message_from_bytes(handler.messages[0], policy=email.policy.default)
    assert msg["Subject"] == "All quiet: your productops digest, 2026-W48"
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "All quiet." in body.get_content()
