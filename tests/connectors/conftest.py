"""Shared fixtures for the connector HTTP tests: a fake DNS boundary and real canary HTTP servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_real_getaddrinfo = socket.getaddrinfo


@dataclass
class Canary:
    host: str
    port: int
    hits: list[dict[str, str]] = field(default_factory=list)


def _start(host: str, port: int = 0) -> tuple[ThreadingHTTPServer, Canary]:
    canary = Canary(host, 0)

    class Handler(BaseHTTPRequestHandler):
        def _hit(self) -> None:
            canary.hits.append({"path": self.path, "host": self.headers.get("Host", "")})
            body = b'{"canary": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _hit

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    canary.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, canary


@pytest.fixture
def canary() -> Iterator[Canary]:
    """A real HTTP server on 127.0.0.1 that must never be reached by a refused URL."""
    server, c = _start("127.0.0.1")
    yield c
    server.shutdown()
    server.server_close()


@pytest.fixture
def start_server() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(host: str, port: int = 0) -> Canary:
        server, c = _start(host, port)
        servers.append(server)
        return c

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class FakeDns:
    """socket.getaddrinfo patched at the DNS boundary: names map to address lists, calls are counted.

    An entry may be a list of lists to answer differently on successive lookups (rebinding)."""

    def __init__(self) -> None:
        self.records: dict[str, list[Any]] = {}
        self.calls: dict[str, int] = {}

    def __call__(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        name = name.rstrip(".").lower()
        if name in self.records:
            n = self.calls.get(name, 0)
            self.calls[name] = n + 1
            answers = self.records[name]
            addresses = answers[min(n, len(answers) - 1)] if isinstance(answers[0], list) else answers
            out = []
            for address in addresses:
                fam = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (
                    (address, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (address, int(port or 0))
                )
                out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
            return out
        # Numeric hosts resolve without the network; any other name is unknown here (tests have no network).
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    dns = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns
