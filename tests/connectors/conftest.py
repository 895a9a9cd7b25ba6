"""Shared fixtures for the connector HTTP tests: a fake DNS boundary and real canary HTTP servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import tests.connectors.sources  # noqa: F401  (registers the test connectors)
from connectors.models import Connection

_real_getaddrinfo = socket.getaddrinfo


@dataclass
class Canary:
    host: str
    port: int
    hits: list[dict[str, str]] = field(default_factory=list)


def _start(host: str, port: int = 0, context: Any = None) -> tuple[ThreadingHTTPServer, Canary]:
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
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
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


def make_self_signed(tmp_path: Any, name: str) -> tuple[str, str]:
    """A throwaway certificate for `name` (PEM cert path, PEM key path)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def start_tls_server() -> Iterator[Any]:
    """start(host, certfile, keyfile) -> Canary: a real HTTPS server that records the SNI name it saw."""
    import ssl

    servers: list[ThreadingHTTPServer] = []

    def start(host: str, certfile: str, keyfile: str) -> Canary:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        sni: list[str | None] = []

        def remember(sock: Any, name: str | None, ctx: Any) -> None:
            sni.append(name)

        context.sni_callback = remember
        server, c = _start(host, context=context)
        c.sni = sni  # type: ignore[attr-defined]
        servers.append(server)
        return c

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def start_raw_server() -> Iterator[Any]:
    """start(response_bytes) -> port: a TCP server on 127.0.0.1 that sends raw bytes and closes."""
    import socketserver

    servers: list[socketserver.TCPServer] = []

    def start(raw: bytes) -> int:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.recv(65536)
                self.request.sendall(raw)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def zendesk(db: Any) -> Connection:
    """A connection of the test Zendesk connector (tests/connectors/sources.py) with a stored token."""
    connection = Connection(
        name="Acme Zendesk",
        kind="zendesk_tickets_test",
        config={"subdomain": "acme", "email": "ops@acme.example"},
    )
    connection.set_secrets({"api_token": "zd-token-0123456789abcdef"})
    connection.save()
    return connection
