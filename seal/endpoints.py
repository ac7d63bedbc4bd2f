"""Calling labs' OpenAI-compatible endpoints: address guard, one chat completion with retries.

The URL comes from a lab, so the platform must not become a way into its own network: every
connection is checked after DNS resolution (the address actually dialled is the one checked), no
redirect is followed, no proxy from the environment is used. Nothing here touches the database;
the collection service (seal/services/collection.py) decides what to send and stores what comes
back.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import httpcore
import httpx
from httpcore._backends.sync import SyncStream

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services; both are inside blocked ranges too, named here to make the intent plain.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
USER_AGENT = "SEAL-collector/1.0"
INTERRUPTED = "interrupted"
# PositiveIntegerField is a 32-bit integer on PostgreSQL; a larger token count is not kept.
MAX_TOKEN_COUNT = 2**31 - 1


class BlockedAddressError(Exception):
    """The endpoint's host is, or resolves to, an address the platform never calls."""


# The ports a bare allow-list entry covers: the scheme's default, or (when only the port is
# known, at connect time) either default.
DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_PORT = -1


def _ports_allowed(entry_port: int | None, port: int | None, scheme: str | None) -> bool:
    if entry_port == ANY_PORT:
        return True
    if entry_port is not None:
        return port == entry_port
    if scheme is not None:
        return port == DEFAULT_PORTS.get(scheme)
    return port in DEFAULT_PORTS.values()


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, `host:*` or a bare host/address/network (port None)."""
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{entry!r} is not [address] or [address]:port")
        return host, _port(entry, rest[1:]) if rest else None
    if entry.count(":") == 1:  # more than one colon: a bare IPv6 address or network
        host, _, port = entry.partition(":")
        return host, _port(entry, port)
    return entry, None


def _port(entry: str, raw: str) -> int:
    if raw == "*":
        return ANY_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535, or *")
    return int(raw)


@dataclass(frozen=True)
class AllowList:
    """Hosts (by name), addresses and networks exempt from the address guard, each on a port.

    An entry is `host`, `host:port` or `host:*`; the host may be a name, an address ([v6] with a
    port) or a network. A bare host is allowed on the default port only (443 for https, 80 for
    http), so that allowing a test host does not open its database or admin ports too; `:*`
    opens every port of it, for local testing."""

    names: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[tuple[IPNetwork, int | None], ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """The allow list from SEAL_ENDPOINT_ALLOWED_HOSTS; ValueError names a malformed entry."""
        names: set[tuple[str, int | None]] = set()
        networks: list[tuple[IPNetwork, int | None]] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            host, port = _split_port(entry)
            try:
                networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                if not host or "/" in host or ":" in host:
                    raise ValueError(f"{raw!r} is not a host, address or network") from None
                names.add((host.rstrip("."), port))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str, port: int | None, scheme: str | None = None) -> bool:
        name = host.lower().rstrip(".").strip("[]")
        return any(
            listed == name and _ports_allowed(entry_port, port, scheme)
            for listed, entry_port in self.names
        )

    def allows_address(
        self, address: IPAddress, port: int | None, scheme: str | None = None
    ) -> bool:
        return any(
            address in network and _ports_allowed(entry_port, port, scheme)
            for network, entry_port in self.networks
        )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_blocked(address: IPAddress) -> bool:
    """True for anything but a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and address_is_blocked(embedded):
            return True
    return (
        address in METADATA_ADDRESSES
        or not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def endpoint_url_problems(url: str, *, allow: AllowList) -> list[str]:
    """What is wrong with a lab-supplied base URL, checked without DNS (registration time)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ["is not a valid URL"]
    problems = []
    if parts.scheme not in {"http", "https"}:
        problems.append("must be an http(s) URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        problems.append("must not contain credentials; send the secret as api_secret")
    host = parts.hostname or ""
    if not host:
        problems.append("must name a host")
    if port == 0:
        problems.append("must not use port 0")
    if parts.query or parts.fragment:
        problems.append("must not have a query string or fragment")
    scheme = parts.scheme
    effective_port = port if port is not None else DEFAULT_PORTS.get(scheme)
    if host and not allow.allows_name(host, effective_port, scheme):
        address = _literal_address(host)
        if address is not None:
            if address_is_blocked(address) and not allow.allows_address(
                address, effective_port, scheme
            ):
                problems.append("points to a private, loopback or reserved address")
        elif host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"):
            problems.append("points to a private, loopback or reserved address")
    return problems


def endpoint_secret_problems(secret: str) -> list[str]:
    """What is wrong with a lab-supplied endpoint secret (it is sent as a header value)."""
    # A bearer token is visible ASCII (RFC 6750); anything else either breaks the header (and the
    # HTTP library quotes the whole header value, secret included, in its error) or injects one.
    if any(not ("\x21" <= char <= "\x7e") for char in secret):
        return [
            "must be visible ASCII characters only (no spaces, line breaks or other control "
            "characters): it is sent as `Authorization: Bearer <secret>`"
        ]
    return []


def resolve_checked(
    host: str,
    port: int,
    *,
    allow: AllowList,
    resolver: Callable[..., Sequence[Any]] = socket.getaddrinfo,
) -> list[tuple[Any, ...]]:
    """Resolve `host` and refuse it if any of its addresses is blocked; return what to dial."""
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from exc
    # The scheme is not known here: a bare allow-list entry covers either default port.
    if allow.allows_name(host, port):
        return list(infos)
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address_is_blocked(address) and not allow.allows_address(address, port):
            # One bad address is enough: a host that mixes public and private answers is a
            # rebinding attempt as often as a mistake.
            raise BlockedAddressError(f"{host} resolves to a blocked address")
    return list(infos)


class GuardedNetworkBackend(httpcore.SyncBackend):
    """Dials only addresses that passed the guard, the very ones that were checked."""

    def __init__(self, allow: AllowList) -> None:
        self.allow = allow

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        infos = resolve_checked(host, port, allow=self.allow)
        last_error: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.connect(address)
            except TimeoutError as exc:
                sock.close()
                raise httpcore.ConnectTimeout(str(exc)) from exc
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            return SyncStream(sock)
        raise httpcore.ConnectError(str(last_error or f"cannot connect to {host}"))


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport, dialling through the guarded backend."""

    def __init__(self, *, allow: AllowList, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(allow),
        )


@dataclass(frozen=True)
class CallPolicy:
    timeout: float
    max_attempts: int
    backoff_base: float
    backoff_max: float
    max_response_bytes: int


@dataclass(frozen=True)
class ChatCall:
    """One prompt to send. `key` identifies it to the caller; the text never leaves this object
    except in the request body."""

    key: int
    url: str
    model_id: str
    text: str = field(repr=False)
    params: Mapping[str, Any]
    secret: str = field(repr=False, default="")


@dataclass(frozen=True)
class ChatResult:
    key: int
    ok: bool
    attempts: int
    text: str = field(default="", repr=False)
    finish_reason: str = ""
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_kind: str = ""
    error: str = ""


class _Retryable(Exception):
    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


class _Permanent(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def completions_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, policy: CallPolicy, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is a floor, capped."""
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** (attempt - 1)))
    delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.backoff_max))
    return delay


def storable_text(value: str) -> str:
    """Text any database can hold: lone UTF-16 surrogates become U+FFFD, NUL is removed.

    JSON may escape half of a surrogate pair (an API that cut an emoji at max_tokens), which
    Python decodes to a str no UTF-8 encoder accepts; PostgreSQL text cannot hold NUL at all.
    Valid pairs are joined on the way through UTF-16."""
    if not value.isascii():
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value.replace("\x00", "")


def _token_count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return None


def secret_forms(secret: str) -> list[str]:
    """Every spelling of `secret` an error message may carry, longest first: as is, escaped as
    Python, JSON or bytes reprs escape it (how HTTP libraries quote a bad header value), and
    URL-encoded."""
    if not secret:
        return []
    forms = {
        secret,
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    for encoding in ("utf-8", "latin-1"):
        try:
            encoded = secret.encode(encoding)
        except UnicodeEncodeError:
            continue
        forms.add(repr(encoded)[2:-1])
    return sorted((form for form in forms if form), key=len, reverse=True)


def scrub_secret(text: str, secret: str) -> str:
    """`text` with every form of `secret` in it replaced by [secret]."""
    for form in secret_forms(secret):
        text = text.replace(form, "[secret]")
    return text


def _parse_completion(body: bytes) -> tuple[str, str, int | None, int | None]:
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _Permanent("invalid_response", "not an OpenAI chat completion") from exc
    if not isinstance(content, str):
        raise _Permanent("invalid_response", "the completion has no text content")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    finish = choice.get("finish_reason")
    return (
        storable_text(content),
        storable_text(finish)[:50] if isinstance(finish, str) else "",
        _token_count(usage.get("prompt_tokens")),
        _token_count(usage.get("completion_tokens")),
    )


class EndpointClient:
    """A connection pool to one lab's endpoints; `complete` is safe to call from many threads."""

    def __init__(self, *, policy: CallPolicy, allow: AllowList, max_connections: int) -> None:
        self.policy = policy
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client = httpx.Client(
            transport=GuardedTransport(allow=allow, limits=limits),
            timeout=httpx.Timeout(policy.timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EndpointClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _attempt(self, call: ChatCall) -> tuple[str, str, int | None, int | None]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if call.secret:
            headers["Authorization"] = f"Bearer {call.secret}"
        payload = {
            **call.params,
            "model": call.model_id,
            "messages": [{"role": "user", "content": call.text}],
            "stream": False,
        }
        deadline = time.monotonic() + self.policy.timeout
        try:
            with self._client.stream("POST", call.url, json=payload, headers=headers) as response:
                if response.is_redirect:
                    raise _Permanent(
                        "redirect", f"HTTP {response.status_code}: redirects are not followed"
                    )
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(
                        f"http_{response.status_code}",
                        f"HTTP {response.status_code}",
                        retry_after_seconds(response.headers.get("Retry-After")),
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.policy.max_response_bytes:
                        raise _Permanent(
                            "response_too_large",
                            f"the answer exceeded {self.policy.max_response_bytes} bytes",
                        )
                    if time.monotonic() > deadline:
                        raise _Retryable("timeout", f"no full answer in {self.policy.timeout} s")
                    chunks.append(chunk)
                body = b"".join(chunks)
                if response.status_code >= 400:
                    # Scrubbed before it is cut short, so no cut can leave a piece of the secret.
                    text = body.decode("utf-8", "replace")
                    excerpt = scrub_secret(text, call.secret)[:300]
                    raise _Permanent(
                        f"http_{response.status_code}", f"HTTP {response.status_code}: {excerpt}"
                    )
                if response.status_code != 200:
                    raise _Permanent(
                        f"http_{response.status_code}", f"unexpected HTTP {response.status_code}"
                    )
        except httpx.TimeoutException as exc:
            raise _Retryable("timeout", f"timed out ({type(exc).__name__})") from exc
        except httpx.RemoteProtocolError as exc:
            # Usually a pooled keep-alive connection the server had just closed.
            raise _Retryable("connection_dropped", "the server closed the connection") from exc
        except BlockedAddressError as exc:
            raise _Permanent("blocked_address", str(exc)) from exc
        except (httpx.ConnectError, httpx.ReadError, httpx.WriteError) as exc:
            # Refused or reset: an endpoint restarting or over its backlog, worth another try.
            raise _Retryable("connect_error", f"{type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise _Permanent("connect_error", f"{type(exc).__name__}: {exc}") from exc
        return _parse_completion(body)

    def complete(
        self,
        call: ChatCall,
        *,
        sleep: Callable[[float], object] = time.sleep,
        should_stop: Callable[[], bool] | None = None,
    ) -> ChatResult:
        """Send one prompt, retrying 429s, 5xx and timeouts with backoff; never raises.

        When `should_stop` turns true the retries end early with an INTERRUPTED result: the
        prompt was not given up on, only left for a later collector.
        """
        if endpoint_secret_problems(call.secret):
            # Stored before registration refused such secrets: never put it in a header.
            return ChatResult(
                call.key,
                ok=False,
                attempts=0,
                error_kind="invalid_secret",
                error="the stored api_secret has characters a header cannot carry; "
                "register the endpoint secret again",
            )
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                text, finish, prompt_tokens, completion_tokens = self._attempt(call)
            except _Retryable as exc:
                if attempt >= self.policy.max_attempts:
                    return ChatResult(
                        call.key,
                        ok=False,
                        attempts=attempt,
                        error_kind=exc.kind,
                        error=scrub_secret(f"{exc.detail} (after {attempt} attempts)", call.secret),
                    )
                if should_stop is not None and should_stop():
                    return ChatResult(call.key, ok=False, attempts=attempt, error_kind=INTERRUPTED)
                sleep(backoff_delay(attempt, self.policy, exc.retry_after))
                if should_stop is not None and should_stop():
                    return ChatResult(call.key, ok=False, attempts=attempt, error_kind=INTERRUPTED)
                continue
            except _Permanent as exc:
                return ChatResult(
                    call.key,
                    ok=False,
                    attempts=attempt,
                    error_kind=exc.kind,
                    error=scrub_secret(exc.detail, call.secret),
                )
            except Exception as exc:  # a result for every call, whatever went wrong
                return ChatResult(
                    call.key,
                    ok=False,
                    attempts=attempt,
                    error_kind="internal_error",
                    error=type(exc).__name__,
                )
            return ChatResult(
                call.key,
                ok=True,
                attempts=attempt,
                text=text,
                finish_reason=finish,
                latency_ms=int((time.monotonic() - started) * 1000),
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )


__all__ = [
    "INTERRUPTED",
    "AllowList",
    "BlockedAddressError",
    "CallPolicy",
    "ChatCall",
    "ChatResult",
    "EndpointClient",
    "address_is_blocked",
    "completions_url",
    "endpoint_secret_problems",
    "endpoint_url_problems",
    "resolve_checked",
    "scrub_secret",
    "secret_forms",
    "storable_text",
]
