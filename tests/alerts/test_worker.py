"""The issue's must-show: a planted anomaly reaches the SMTP sink, the Slack mock and the webhook
receiver within one detection cycle, exactly once, and again only on escalation, through a real
Celery worker process on the real broker (Redis in CI)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from productops.alerts import tasks
from productops.alerts.models import AlertDelivery, Channel, DeliveryStatus, RuleScope
from tests.workers import ROOT, worker_env

from .conftest import plant
from .helpers import json_lines, make_rule, parse_mail, text_of, wait_for, webhook_rule


def start_worker(**env: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "tests.alerts.slack_worker",
        "-A",
        "productops",
        "worker",
        "-Q",
        "default,insights,email",
        "--pool",
        "solo",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"alerts-test-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]
    return subprocess.Popen(cmd, cwd=ROOT, env=worker_env(**env), start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_planted_anomaly_alerts_every_destination_once_and_again_only_on_escalation(
    people: dict[str, Any], smtp_server: Any, receiver: Any, tmp_path: Path
) -> None:
    handler, controller = smtp_server
    slack_log = tmp_path / "slack.jsonl"
    checkout = people["checkout"]
    make_rule(people["pm"], Channel.EMAIL, name="My checkout anomalies", products=[checkout])
    make_rule(
        people["lead"],
        Channel.SLACK,
        {"bot_token": "xoxb-test-1234567890-abcdefghij"},
        name="Checkout to Slack",
        scope=RuleScope.CHANNEL,
        slack_channel="#checkout-alerts",
        products=[checkout],
    )
    _, receiver.secret = webhook_rule(
        people["lead"], receiver.url, name="Checkout webhook", products=[checkout]
    )

    proc = start_worker(
        EMAIL_URL=f"smtp://127.0.0.1:{controller.port}",
        CONNECTOR_ALLOWED_NETWORKS="127.0.0.0/8",
        ALERT_TEST_SLACK_LOG=str(slack_log),
        SITE_URL="https://productops.example.com",
    )
    try:
        # One detection cycle: the write queues the recompute; the worker detects, evaluates, delivers.
        plant(people["metric"], spike=0.93)
        wait_for(
            lambda: (
                len(handler.messages) >= 1 and len(json_lines(slack_log)) >= 1 and len(receiver.requests) >= 1
            ),
            "the first alert at all three destinations",
        )
        # More cycles and evaluations change nothing: exactly once.
        plant(people["metric"], spike=0.93)
        tasks.evaluate_alerts.delay()
        tasks.send_due_alerts.delay()
        wait_for(
            lambda: (
                AlertDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 3
                and not AlertDelivery.objects.exclude(status=DeliveryStatus.SENT).exists()
            ),
            "the deliveries to settle",
        )
        time.sleep(3)
        assert len(handler.messages) == 1 and len(json_lines(slack_log)) == 1 and len(receiver.requests) == 1

        first = parse_mail(handler.messages[0])
        assert first["To"] == "pm@example.com" and first["Subject"].strip().startswith("Medium: ")
        assert "Acknowledge: https://productops.example.com/alerts/act/" in text_of(first)
        posted = json_lines(slack_log)[0]
        assert posted["authorization"] == "Bearer xoxb-test-1234567890-abcdefghij"
        assert posted["body"]["channel"] == "#checkout-alerts"
        assert posted["body"]["text"].startswith("Medium: ")
        assert receiver.requests[0]["verified"]

        # Escalation: the same anomaly (same start day) deepens, so its severity rises: one more each.
        plant(people["metric"], spike=0.5)
        wait_for(
            lambda: (
                len(handler.messages) >= 2 and len(json_lines(slack_log)) >= 2 and len(receiver.requests) >= 2
            ),
            "the escalation at all three destinations",
        )
        tasks.evaluate_alerts.delay()
        time.sleep(3)
        assert len(handler.messages) == 2 and len(json_lines(slack_log)) == 2 and len(receiver.requests) == 2
        assert parse_mail(handler.messages[1])["Subject"].strip().startswith("Escalated to Critical: ")
        assert json_lines(slack_log)[1]["body"]["text"].startswith("Escalated to Critical: ")
        assert all(r["verified"] for r in receiver.requests)
    finally:
        stop(proc)
