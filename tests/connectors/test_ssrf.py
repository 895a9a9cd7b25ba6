"""The SSRF guard: a table of internal targets, all refused, and a real canary server that sees 0 hits."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
import requests
import responses

from connectors.base import ConnectorError
from connectors.http import HttpClient, RetryPolicy
from connectors.ssrf import parse_ip_literal, resolve_target, why_forbidden

PUBLIC = "93.184.215.14"  # a public address; only ever reached through `responses`

# {P} is the canary's port on 127.0.0.1.
DIRECT = [
    # loopback, in every spelling the C resolver accepts
    "http://127.0.0.1:{P}/",
    "http://127.1:{P}/",
    "http://127.0.1:{P}/",
    "http://2130706433:{P}/",
    "http://0x7f000001:{P}/",
    "http://0x7f.1:{P}/",
    "http://0x7f.0.0.1:{P}/",
    "http://017700000001:{P}/",
    "http://0177.0.0.1:{P}/",
    "http://0177.1:{P}/",
    "http://0:{P}/",
    "http://0.0.0.0:{P}/",
    "http://127.255.255.254:{P}/",
    "http://127.0.0.1.:{P}/",
    "https://127.0.0.1:{P}/",
    "http://user:pass@127.0.0.1:{P}/",
    "http://public.example.test@127.0.0.1:{P}/",
    "http://localhost:{P}/",
    "http://LOCALHOST:{P}/",
    "http://app.localhost:{P}/",
    "http://\u2460\u2461\u2466.0.0.1:{P}/",  # circled digits: IDNA folds them to 127.0.0.1
    "http://[fe80::1%25eth0]:{P}/",
    # IPv6 forms of loopback: plain, mapped, compatible, NAT64, 6to4, Teredo
    "http://[::1]:{P}/",
    "http://[0:0:0:0:0:0:0:1]:{P}/",
    "http://[::ffff:127.0.0.1]:{P}/",
    "http://[0:0:0:0:0:ffff:7f00:1]:{P}/",
    "http://[::ffff:7f00:1]:{P}/",
    "http://[::127.0.0.1]:{P}/",
    "http://[::]:{P}/",
    "http://[64:ff9b::7f00:1]:{P}/",
    "http://[64:ff9b::127.0.0.1]:{P}/",
    "http://[64:ff9b:1::7f00:1]:{P}/",
    "http://[2002:7f00:1::]:{P}/",
    "http://[2002:7f00:0001::1]:{P}/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{P}/",
    # private networks, also in decimal, hex and octal
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://0xa000001/",
    "http://012.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://192.168.1.1:8080/",
    "http://3232235777/",
    "http://[2002:a00:1::]/",
    # CGNAT
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    # cloud metadata
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://100.100.100.200/latest/meta-data",
    "http://[fd00:ec2::254]/latest/meta-data",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./computeMetadata/v1/",
    "http://metadata/",
    "http://168.63.129.16/machine",
    "http://192.0.0.192/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    # link-local, multicast, reserved, broadcast, documentation, unique/site-local
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.1/",
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://198.18.0.1/",
    "http://[2001:db8::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://[100::1]/",
    # schemes other than http(s)
    "file:///etc/passwd",
    "file://127.0.0.1/etc/passwd",
    "gopher://127.0.0.1:{P}/_GET%20/",
    "ftp://127.0.0.1:{P}/",
    "ftp://public.example.test/",
    "dict://127.0.0.1:{P}/info",
    "ldap://127.0.0.1:{P}/",
    "ws://127.0.0.1:{P}/",
    "//127.0.0.1:{P}/",
    "http:///nohost",
]

# Names answered by the patched getaddrinfo (the DNS boundary).
DNS = {
    "public.example.test": [PUBLIC],
    "internal.example.test": ["127.0.0.1"],
    "mixed.example.test": [PUBLIC, "127.0.0.1"],
    "mixed6.example.test": [PUBLIC, "::1"],
    "v6.example.test": ["::1"],
    "mapped.example.test": ["::ffff:127.0.0.1"],
    "nat64.example.test": ["64:ff9b::7f00:1"],
    "cgnat.example.test": ["100.64.1.1"],
    "meta.example.test": ["169.254.169.254"],
    "private.example.test": [PUBLIC, "10.1.2.3"],
}
VIA_DNS = [
    "http://internal.example.test:{P}/",
    "http://mixed.example.test:{P}/",
    "http://mixed6.example.test:{P}/",
    "http://v6.example.test:{P}/",
    "http://mapped.example.test:{P}/",
    "http://nat64.example.test:{P}/",
    "http://cgnat.example.test/",
    "http://meta.example.test/latest/meta-data/",
    "http://private.example.test/",
]

# (start URL, [Location of each public hop]): the public hops are served by `responses`.
REDIRECTS = [
    ("http://public.example.test/r1", ["http://127.0.0.1:{P}/"]),
    ("http://public.example.test/r2", ["http://[::1]:{P}/"]),
    ("http://public.example.test/r3", ["http://169.254.169.254/latest/meta-data/"]),
    ("http://public.example.test/r4", ["http://internal.example.test:{P}/"]),
    ("http://public.example.test/r5", ["gopher://127.0.0.1:{P}/"]),
    ("http://public.example.test/r6", ["/r6b", "http://2130706433:{P}/"]),
    ("http://public.example.test/r7", ["/r7b", "/r7c", "/r7d", "http://public.example.test/r7e"]),
]


def _client() -> HttpClient:
    return HttpClient(retry=RetryPolicy(max_attempts=1), sleep=lambda s: None)


def test_the_table_is_large_enough() -> None:
    assert len(DIRECT) + len(VIA_DNS) + len(REDIRECTS) >= 60


def test_every_internal_url_is_refused_and_the_canary_sees_nothing(canary: Any, fake_dns: Any) -> None:
    fake_dns.records.update(DNS)
    not_refused = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # Anything not mocked goes to the real network stack, so a guard failure would reach the canary.
        rsps.add_passthru(re.compile(r".*"))
        for start, hops in REDIRECTS:
            url = start
            for i, location in enumerate(hops):
                rsps.add(
                    responses.GET,
                    url,
                    status=302 if i % 2 == 0 else 307,
                    headers={"Location": location.format(P=canary.port)},
                )
                url = location if location.startswith("http") else "http://public.example.test" + location
        client = _client()
        for raw in [*DIRECT, *VIA_DNS, *(start for start, _ in REDIRECTS)]:
            url = raw.format(P=canary.port)
            try:
                client.request("GET", url)
            except ConnectorError as exc:
                if not exc.permanent:
                    not_refused.append((url, f"transient: {exc.message}"))
            except Exception as exc:  # any other outcome is a guard failure
                not_refused.append((url, repr(exc)))
            else:
                not_refused.append((url, "fetched"))
    assert not_refused == []
    assert canary.hits == []
    # The canary is live: a plain request reaches it, so the 0 above means something.
    assert requests.get(f"http://127.0.0.1:{canary.port}/", timeout=5).status_code == 200
    assert len(canary.hits) == 1


@pytest.mark.parametrize("raw", DIRECT)
def test_refusals_are_permanent_and_say_why(raw: str, fake_dns: Any) -> None:
    with pytest.raises(ConnectorError) as info:
        resolve_target(raw.format(P=8080))
    assert info.value.permanent
    assert re.search(r"Refused to connect|Only http and https|no host name", info.value.message), (
        info.value.message
    )


def test_dns_is_resolved_once_per_hop_and_every_address_checked(fake_dns: Any) -> None:
    fake_dns.records.update(DNS)
    with pytest.raises(ConnectorError, match=r"mixed\.example\.test \(127\.0\.0\.1\)"):
        resolve_target("http://mixed.example.test/")
    assert fake_dns.calls["mixed.example.test"] == 1


def test_redirect_to_an_internal_target_names_it(canary: Any, fake_dns: Any) -> None:
    fake_dns.records.update(DNS)
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            "http://public.example.test/go",
            status=302,
            headers={"Location": f"http://127.0.0.1:{canary.port}/admin"},
        )
        with pytest.raises(ConnectorError, match=r"Refused to connect to 127\.0\.0\.1: it is the loopback"):
            _client().request("GET", "http://public.example.test/go")
    assert canary.hits == []


def test_more_than_three_redirects_are_refused(fake_dns: Any) -> None:
    fake_dns.records.update(DNS)
    with responses.RequestsMock() as rsps:
        for i in range(4):
            rsps.add(
                responses.GET,
                f"http://public.example.test/{i}",
                status=301,
                headers={"Location": f"/{i + 1}"},
            )
        with pytest.raises(ConnectorError, match="redirected more than 3 times") as info:
            _client().request("GET", "http://public.example.test/0")
    assert info.value.permanent


def test_three_redirects_are_followed(fake_dns: Any) -> None:
    fake_dns.records.update(DNS)
    with responses.RequestsMock() as rsps:
        for i in range(3):
            rsps.add(
                responses.GET,
                f"http://public.example.test/{i}",
                status=302,
                headers={"Location": f"/{i + 1}"},
            )
        rsps.add(responses.GET, "http://public.example.test/3", json={"ok": True})
        assert _client().get_json("http://public.example.test/0") == {"ok": True}


def test_allowed_networks_let_a_self_hoster_reach_an_internal_tool(
    settings: Any, fake_dns: Any, start_server: Any
) -> None:
    tool = start_server("127.0.0.1")
    fake_dns.records["jira.corp.test"] = ["127.0.0.1"]
    with pytest.raises(ConnectorError, match="CONNECTOR_ALLOWED_NETWORKS"):
        _client().get_json(f"http://jira.corp.test:{tool.port}/rest/api/2/myself")
    settings.CONNECTOR_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert _client().get_json(f"http://jira.corp.test:{tool.port}/rest/api/2/myself") == {"canary": True}
    assert tool.hits == [{"path": "/rest/api/2/myself", "host": f"jira.corp.test:{tool.port}"}]
    # Only the listed range: 10.x is still refused, and metadata is refused even when its range is listed.
    with pytest.raises(ConnectorError):
        resolve_target("http://10.0.0.5/")
    settings.CONNECTOR_ALLOWED_NETWORKS = ["10.0.0.0/8", "169.254.0.0/16"]
    assert resolve_target("http://10.0.0.5/").address == "10.0.0.5"
    with pytest.raises(ConnectorError, match="metadata"):
        resolve_target("http://169.254.169.254/")


def test_the_connection_goes_to_the_checked_address_not_a_second_answer(
    settings: Any, fake_dns: Any, start_server: Any
) -> None:
    """DNS rebinding: the first answer is allowed, later ones point at the canary. Only the first is used."""
    allowed = start_server("127.0.0.2")
    canary = start_server("127.0.0.1", allowed.port)
    settings.CONNECTOR_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    fake_dns.records["rebind.example.test"] = [["127.0.0.2"], ["127.0.0.1"]]
    client = _client()
    for _ in range(3):
        fake_dns.calls["rebind.example.test"] = 0  # each request's check gets the allowed answer first
        assert client.get_json(f"http://rebind.example.test:{allowed.port}/x") == {"canary": True}
    assert len(allowed.hits) == 3
    assert all(hit["host"] == f"rebind.example.test:{allowed.port}" for hit in allowed.hits)
    assert canary.hits == []


def test_legacy_ipv4_forms_parse_like_inet_aton() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    for form in ["127.1", "127.0.1", "2130706433", "0x7f.1", "0x7F000001", "017700000001", "0177.0.0.01"]:
        assert parse_ip_literal(form) == loopback, form
    assert parse_ip_literal("0") == ipaddress.ip_address(0)
    for name in ["example.com", "1.2.3.4.5", "256.1.1.1", "08.1.1.1", "1e3", "1.2.3.256", "0x1g"]:
        assert parse_ip_literal(name) is None, name


def test_public_addresses_are_allowed() -> None:
    for address in ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "100.63.255.255", "100.128.0.1"]:
        assert why_forbidden(ipaddress.ip_address(address), []) is None, address


def test_https_to_a_pinned_address_keeps_sni_and_verifies_the_certificate_name(
    settings: Any, fake_dns: Any, start_tls_server: Any, tmp_path: Any
) -> None:
    from tests.connectors.conftest import make_self_signed

    cert, key = make_self_signed(tmp_path, "tool.corp.test")
    server = start_tls_server("127.0.0.1", cert, key)
    settings.CONNECTOR_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    fake_dns.records.update({"tool.corp.test": ["127.0.0.1"], "other.corp.test": ["127.0.0.1"]})
    client = _client()
    client.session.verify = cert  # trust the throwaway certificate
    assert client.get_json(f"https://tool.corp.test:{server.port}/api") == {"canary": True}
    assert server.sni == ["tool.corp.test"]
    assert server.hits == [{"path": "/api", "host": f"tool.corp.test:{server.port}"}]
    # The same address under a name the certificate does not cover is refused, permanently.
    with pytest.raises(ConnectorError, match=r"TLS certificate of other\.corp\.test") as info:
        client.get_json(f"https://other.corp.test:{server.port}/api")
    assert info.value.permanent
    assert len(server.hits) == 1
