"""Fixtures for digest tests: users in timezones, eager Celery, and a real SMTP server on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings

from productops.accounts.roles import Role
from productops.accounts.services import create_user
from productops.celery import app as celery_app
from productops.digests.services import ensure_subscription


def make_subscriber(username: str, tz: str, weekday: int = 0, hour: int = 9, role: Role = Role.PM,
                    **fields: Any) -> Any:
    user = create_user(username, f"{username}@example.com", "a-long-pass-123!", role, timezone=tz)
    sub = ensure_subscription(user)
    sub.weekday, sub.hour = weekday, hour
    for name, value in fields.items():
        setattr(sub, name, value)
    sub.save()
    return user


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run .delay() in-process, as a worker would, so the real task code (and its retries) runs."""
    before = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps each accepted message and can refuse the first N DATA commands."""

    refuse_first: int = 0
    data_commands: int = 0
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.data_commands += 1
            if self.data_commands <= self.refuse_first:
                return "451 4.3.0 Temporary failure, try again later"
            self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, Any]]:
    """A real SMTP server on 127.0.0.1, and Django's SMTP backend pointed at it."""
    handler = RecordingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_TIMEOUT=10,
        ):
            yield handler, controller
    finally:
        controller.stop()
