"""The endpoint address guard: lab-supplied URLs never reach the platform's own network."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket

import pytest

from seal.endpoints import (
    AllowList,
    BlockedAddressError,
    CallPolicy,
    ChatCall,
    EndpointClient,
    address_is_blocked,
    endpoint_url_problems,
    resolve_checked,
)
from tests.fake_endpoint import FakeEndpoint
from tests.seal.test_settings import run_manage

NOTHING_ALLOWED = AllowList.parse([])
POLICY = CallPolicy(
    timeout=2, max_attempts=1, backoff_base=0.01, backoff_max=0.01, max_response_bytes=10_000
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "0.0.0.0",  # noqa: S104 - an address under test, nothing binds to it
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.5",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd00:ec2::254",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:0001::1",  # 6to4 wrapping 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
    ],
)
def test_private_loopback_link_local_multicast_reserved_and_metadata_are_blocked(address):
    assert address_is_blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert not address_is_blocked(ipaddress.ip_address(address))


def fake_resolver(*addresses: str):
    def resolve(host, port, type=0):
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port) if ":" not in a else (a, port, 0, 0),
            )
            for a in addresses
        ]

    return resolve


def test_a_hostname_is_judged_by_every_address_it_resolves_to():
    ok = resolve_checked(
        "api.lab.example", 443, allow=NOTHING_ALLOWED, resolver=fake_resolver("93.184.216.34")
    )
    assert ok[0][4][0] == "93.184.216.34"
    for addresses in (("127.0.0.1",), ("93.184.216.34", "10.1.2.3"), ("::ffff:127.0.0.1",)):
        with pytest.raises(BlockedAddressError):
            resolve_checked(
                "rebind.example", 443, allow=NOTHING_ALLOWED, resolver=fake_resolver(*addresses)
            )


def test_the_allow_list_exempts_names_addresses_and_networks():
    allow = AllowList.parse(["127.0.0.1", "internal.test", "10.9.0.0/16", "[::1]"])
    loopback = fake_resolver("127.0.0.1")
    assert resolve_checked("anything", 80, allow=allow, resolver=loopback)
    assert resolve_checked("internal.test", 80, allow=allow, resolver=fake_resolver("10.0.0.1"))
    assert resolve_checked("x", 80, allow=allow, resolver=fake_resolver("10.9.4.4"))
    assert resolve_checked("x", 80, allow=allow, resolver=fake_resolver("::1"))
    with pytest.raises(BlockedAddressError):
        resolve_checked("x", 80, allow=allow, resolver=fake_resolver("10.8.0.1"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://api.lab.example/v1", None),
        ("http://93.184.216.34:8080/v1", None),
        ("ftp://api.lab.example/v1", "must be an http(s) URL"),
        ("https://user:secret@api.lab.example/v1", "must not contain credentials"),
        ("https:///v1", "must name a host"),
        ("https://api.lab.example:99999/v1", "is not a valid URL"),
        ("https://api.lab.example/v1?key=1", "must not have a query string"),
        ("http://127.0.0.1:8000/v1", "private, loopback or reserved"),
        ("http://[::1]/v1", "private, loopback or reserved"),
        ("http://169.254.169.254/latest", "private, loopback or reserved"),
        ("http://[fd00:ec2::254]/", "private, loopback or reserved"),
        ("http://[::ffff:10.0.0.1]/", "private, loopback or reserved"),
        ("http://localhost/v1", "private, loopback or reserved"),
        ("http://metadata.localhost/v1", "private, loopback or reserved"),
    ],
)
def test_registration_checks_the_url_without_dns(url, problem):
    problems = endpoint_url_problems(url, allow=NOTHING_ALLOWED)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_registration_allows_listed_hosts_on_their_ports():
    allow = AllowList.parse(["127.0.0.1:9000", "localhost:9000"])
    assert endpoint_url_problems("http://127.0.0.1:9000/v1", allow=allow) == []
    assert endpoint_url_problems("http://localhost:9000/v1", allow=allow) == []


@pytest.mark.parametrize(
    ("entries", "url", "allowed"),
    [
        # A bare host: the scheme's default port only, never the host's other services.
        (["127.0.0.1"], "http://127.0.0.1/v1", True),
        (["127.0.0.1"], "http://127.0.0.1:80/v1", True),
        (["127.0.0.1"], "https://127.0.0.1/v1", True),
        (["127.0.0.1"], "http://127.0.0.1:5432/v1", False),
        (["127.0.0.1"], "http://127.0.0.1:8000/v1", False),
        (["127.0.0.1"], "https://127.0.0.1:80/v1", False),
        (["127.0.0.1"], "http://127.0.0.1:443/v1", False),
        (["localhost"], "http://localhost:6379/v1", False),
        (["10.9.0.0/16"], "http://10.9.1.1:2375/v1", False),
        (["[::1]"], "http://[::1]:8080/v1", False),
        # host:port: that port only.
        (["127.0.0.1:9000"], "http://127.0.0.1:9000/v1", True),
        (["127.0.0.1:9000"], "http://127.0.0.1:9001/v1", False),
        (["127.0.0.1:9000"], "http://127.0.0.1/v1", False),
        (["localhost:8443"], "https://localhost:8443/v1", True),
        (["[::1]:8080"], "http://[::1]:8080/v1", True),
        (["10.9.0.0/16:8080"], "http://10.9.1.1:8080/v1", True),
        # host:* opens every port, said explicitly.
        (["127.0.0.1:*"], "http://127.0.0.1:5432/v1", True),
    ],
)
def test_an_allowed_host_is_allowed_on_its_default_or_listed_port_only(entries, url, allowed):
    problems = endpoint_url_problems(url, allow=AllowList.parse(entries))
    assert (problems == []) is allowed, problems


def test_at_connect_time_a_bare_host_is_allowed_on_the_default_ports_only():
    allow = AllowList.parse(["127.0.0.1", "internal.test", "db.test:5432"])
    loopback, private = fake_resolver("127.0.0.1"), fake_resolver("10.0.0.1")
    for port in (80, 443):
        assert resolve_checked("127.0.0.1", port, allow=allow, resolver=loopback)
        assert resolve_checked("internal.test", port, allow=allow, resolver=private)
    assert resolve_checked("db.test", 5432, allow=allow, resolver=private)
    for host, port in (("127.0.0.1", 5432), ("internal.test", 6379), ("db.test", 80)):
        with pytest.raises(BlockedAddressError):
            resolve_checked(host, port, allow=allow, resolver=private)
    with pytest.raises(BlockedAddressError):
        resolve_checked("127.0.0.1", 5432, allow=allow, resolver=loopback)


@pytest.mark.parametrize("entry", ["127.0.0.1:0", "host:99999", "host:http", "[::1", "a/b:80"])
def test_a_malformed_allow_list_entry_is_named(entry):
    with pytest.raises(ValueError, match=r"port|not"):
        AllowList.parse([entry])


def call_to(url: str) -> ChatCall:
    return ChatCall(key=1, url=url, model_id="ok", text="hello", params={})


def test_calls_to_a_hostname_resolving_to_loopback_are_refused_at_connect_time():
    with FakeEndpoint() as endpoint:
        port = endpoint.server.server_address[1]
        with EndpointClient(policy=POLICY, allow=NOTHING_ALLOWED, max_connections=1) as client:
            for url in (
                f"http://localhost:{port}/v1/chat/completions",
                f"http://127.0.0.1:{port}/v1/chat/completions",
            ):
                result = client.complete(call_to(url))
                assert not result.ok
                assert result.error_kind == "blocked_address"
        assert endpoint.requests == []  # nothing ever reached the server

        allowed = AllowList.parse([endpoint.address])
        with EndpointClient(policy=POLICY, allow=allowed, max_connections=1) as client:
            result = client.complete(call_to(f"http://127.0.0.1:{port}/v1/chat/completions"))
            assert result.ok, result


def test_a_bare_allowed_host_does_not_open_its_other_ports_at_connect_time():
    with FakeEndpoint() as endpoint:
        url = f"{endpoint.base_url}/chat/completions"  # a port that is neither 80 nor 443
        for entries in (["127.0.0.1"], ["127.0.0.0/8"], [f"127.0.0.1:{endpoint.port + 1}"]):
            allow = AllowList.parse(entries)
            with EndpointClient(policy=POLICY, allow=allow, max_connections=1) as client:
                result = client.complete(call_to(url))
            assert result.error_kind == "blocked_address", (entries, result)
        assert endpoint.requests == []


def test_redirects_are_never_followed():
    with FakeEndpoint() as endpoint:
        port = endpoint.server.server_address[1]
        with EndpointClient(
            policy=POLICY, allow=AllowList.parse([endpoint.address]), max_connections=1
        ) as client:
            call = ChatCall(
                key=1,
                url=f"http://127.0.0.1:{port}/v1/chat/completions",
                model_id="redirect",
                text="hi",
                params={},
            )
            result = client.complete(call)
        assert result.error_kind == "redirect"
        assert len(endpoint.requests) == 1  # the metadata address in Location was not called


def test_proxy_settings_from_the_environment_are_ignored(monkeypatch):
    # A proxy would dial on the platform's behalf and bypass the address check.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with FakeEndpoint() as endpoint:
        port = endpoint.server.server_address[1]
        with EndpointClient(
            policy=POLICY, allow=AllowList.parse([endpoint.address]), max_connections=1
        ) as client:
            assert client.complete(call_to(f"http://127.0.0.1:{port}/v1/chat/completions")).ok


def test_a_refused_connection_is_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe closes
    policy = dataclasses.replace(POLICY, max_attempts=3)
    with EndpointClient(
        policy=policy, allow=AllowList.parse([f"127.0.0.1:{port}"]), max_connections=1
    ) as client:
        result = client.complete(call_to(f"http://127.0.0.1:{port}/v1/chat/completions"))
    assert not result.ok
    assert result.error_kind == "connect_error"
    assert result.attempts == 3


def test_a_malformed_allowed_hosts_setting_stops_the_start_naming_it():
    result = run_manage({**os.environ, "SEAL_ENDPOINT_ALLOWED_HOSTS": "ok.test,bad:port"}, "check")
    assert result.returncode != 0
    assert "SEAL_ENDPOINT_ALLOWED_HOSTS: 'bad:port'" in result.stderr, result.stderr[-500:]
