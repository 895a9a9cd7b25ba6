"""Read (and remove) the messages waiting in a real broker queue, whatever the transport."""

from __future__ import annotations

import json

from productops.celery import app


def drain(queue: str = "connectors") -> list[str]:
    """Each message as one string: its headers (task name, argsrepr...) and raw body."""
    out = []
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        while True:
            message = channel.basic_get(queue, no_ack=True)
            if message is None:
                break
            body = message.body.decode() if isinstance(message.body, bytes) else str(message.body)
            out.append(json.dumps(message.headers, default=str) + "\n" + body)
    return out
