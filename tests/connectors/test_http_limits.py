"""A real local server that drips its body, or sends too much: the client stops at the deadline and the cap.

The servers are threaded http.server instances on 127.0.0.1, let through the SSRF guard the way an
internal tool is (CONNECTOR_ALLOWED_NETWORKS), reached by name through the test DNS boundary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.base import ConnectorError
from connectors.http import HttpClient, RetryPolicy


class Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.sent = 0
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def serve(settings: Any, fake_dns: Any) -> Iterator[Any]:
    settings.CONNECTOR_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    fake_dns.records["slow.corp.test"] = ["127.0.0.1"]
    servers: list[Server] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> Server:
        server = Server(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_a_slow_drip_body_is_cut_at_the_total_deadline(serve: Any) -> None:
    """One byte every 0.1 s is well within a 5 s read timeout, forever: only a total deadline stops it."""
    stop = threading.Event()

    class Drip(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                self.wfile.write(b'{"items": [')
                while not stop.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = serve(Drip)
    client = HttpClient(timeout=(2.0, 5.0), deadline=1.5, retry=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    try:
        with pytest.raises(ConnectorError, match=r"did not send its whole response within 2s") as info:
            client.get_json(f"http://slow.corp.test:{server.port}/items")
    finally:
        stop.set()
    elapsed = time.monotonic() - started
    assert info.value.permanent is False  # a timeout is transient: retried later, from the cursor
    assert 1.4 <= elapsed < 4.5, elapsed  # the 1.5 s deadline fired, not the 5 s read timeout


def test_a_huge_body_is_refused_at_the_cap_without_reading_it_whole(serve: Any) -> None:
    chunk = b"x" * (256 * 1024)
    sent = [0]

    class Flood(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")  # no Content-Length to refuse up front
            self.end_headers()
            try:
                for _ in range(4096):  # up to 1 GiB
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent[0] += len(chunk)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = serve(Flood)
    client = HttpClient(max_response_bytes=2 * 1024 * 1024, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ConnectorError, match="CONNECTOR_MAX_RESPONSE_BYTES") as info:
        client.get_json(f"http://slow.corp.test:{server.port}/export")
    assert info.value.permanent  # the same request would be as large next time: the lead must act
    time.sleep(0.2)
    assert sent[0] < 64 * 1024 * 1024  # the server was cut off long before its gigabyte


def test_a_declared_content_length_over_the_cap_is_refused_before_reading(serve: Any) -> None:
    class Big(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(1024**3))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = serve(Big)
    client = HttpClient(max_response_bytes=1024 * 1024, retry=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    with pytest.raises(ConnectorError, match="more than 1 MiB"):
        client.get_json(f"http://slow.corp.test:{server.port}/big")
    assert time.monotonic() - started < 2
