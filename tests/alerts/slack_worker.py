"""A real Celery worker process whose outbound HTTP to Slack is mocked at the HTTP boundary.

Run as `python -m tests.alerts.slack_worker <celery worker args>`: before Celery starts, `responses`
answers https://slack.com/api/chat.postMessage with the documented success body
(tests/fixtures/slack/chat.postMessage.ok.json) and appends each request's JSON to the file named by
ALERT_TEST_SLACK_LOG, so the test can read what the worker sent. slack.com resolves to a public address
at the DNS boundary (tests have no network); every other request (the loopback webhook receiver) passes
through to the real socket.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import responses

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "slack" / "chat.postMessage.ok.json"
_real_getaddrinfo = socket.getaddrinfo


def _dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if str(host).rstrip(".").lower() == "slack.com":
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("52.0.0.10", int(port or 443)))]
    return _real_getaddrinfo(host, port, *args, **kwargs)


def _post_message(request: Any) -> tuple[int, dict[str, str], str]:
    with open(os.environ["ALERT_TEST_SLACK_LOG"], "a") as log:
        log.write(
            json.dumps(
                {"authorization": request.headers.get("Authorization", ""), "body": json.loads(request.body)}
            )
            + "\n"
        )
    return 200, {"Content-Type": "application/json; charset=utf-8"}, FIXTURE.read_text()


def main() -> None:
    socket.getaddrinfo = _dns
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.add_callback(responses.POST, "https://slack.com/api/chat.postMessage", callback=_post_message)
    mock.add_passthru("http://127.0.0.1")
    mock.start()
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
