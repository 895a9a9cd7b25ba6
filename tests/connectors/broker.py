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


def forget_unacked(marker: str) -> int:
    """Drop Redis-broker deliveries that a SIGKILLed worker left unacknowledged, if they mention marker.

    Redis would redeliver them after the visibility timeout (an hour), long after the test; nothing else
    on the filesystem transport keeps them.
    """
    if not app.conf.broker_url.startswith("redis"):
        return 0
    import redis

    client = redis.Redis.from_url(app.conf.broker_url)
    prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "")
    dropped = 0
    for tag, payload in client.hgetall(f"{prefix}unacked").items():
        if marker.encode() in payload:
            client.hdel(f"{prefix}unacked", tag)
            client.zrem(f"{prefix}unacked_index", tag)
            dropped += 1
    return dropped
