"""A lab's webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies every
message with the Standard Webhooks reference library, as a lab would.

How it answers depends on the path, so one server plays many endpoints:

    /ok[...]       204 once the signature verifies (400 if it does not)
    /flaky[...]    500 to the first `failures` requests of each webhook-id, then as /ok
    /throttle[...] 429 with Retry-After: 0 to the first request of each webhook-id, then as /ok
    /down[...]     always 503
    /gone[...]     always 410 (not worth retrying)
    /slow[...]     waits until `release` is set (or `hold_seconds` pass), then as /ok
    /leak[...]     500 whose body quotes the endpoint's secret (a proxy gone wrong)

Give it the secret of each path (`secrets[path]`) so it can verify; a path without one is
recorded unverified.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from tests.fake_http import LocalServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def message(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver(LocalServer):
    failures: int = 2
    hold_seconds: float = 10.0
    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.arrived = threading.Event()
        self._seen: Counter[tuple[str, str]] = Counter()
        self._serve()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        with self._lock:
            return [seen for seen in self.received if seen.path == path]

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        """GET /stats: what arrived, for a benchmark running the server in another process."""
        with self._lock:
            stats = {
                "requests": len(self.received),
                "verified": sum(seen.verified for seen in self.received),
                "distinct_ids": len({seen.webhook_id for seen in self.received}),
            }
        self._send(handler, 200, json.dumps(stats).encode())

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        path = handler.path
        headers = {name.lower(): value for name, value in handler.headers.items()}
        secret = self.secrets.get(path)
        verified = False
        if secret is not None:
            try:
                Webhook(secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False

        def record() -> int:
            """How many requests with this webhook-id the path has had, this one included."""
            self.received.append(Received(path, headers, body, verified, time.monotonic()))
            self._seen[(path, headers.get("webhook-id", ""))] += 1
            return self._seen[(path, headers.get("webhook-id", ""))]

        with self._arrived(path, record) as nth:
            self.arrived.set()
            self._respond(handler, path, nth, verified, secret)

    def _respond(
        self,
        handler: BaseHTTPRequestHandler,
        path: str,
        nth: int,
        verified: bool,
        secret: str | None,
    ) -> None:
        if path.startswith("/down"):
            self._send(handler, 503, b'{"error": "maintenance"}')
            return
        if path.startswith("/gone"):
            self._send(handler, 410, b'{"error": "no such hook"}')
            return
        if path.startswith("/leak"):
            self._send(handler, 500, json.dumps({"error": f"bad key {secret}"}).encode())
            return
        if path.startswith("/flaky") and nth <= self.failures:
            self._send(handler, 500, b'{"error": "boom"}')
            return
        if path.startswith("/throttle") and nth == 1:
            self._send(handler, 429, b'{"error": "slow down"}', Retry_After="0")
            return
        if path.startswith("/slow"):
            self.release.wait(self.hold_seconds)
        if not verified:
            self._send(handler, 400, b'{"error": "bad signature"}')
            return
        self._send(handler, 204)


def main() -> None:
    """Serve until interrupted, verifying /ok with --secret; prints its address (host:port)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--path", default="/ok")
    args = parser.parse_args()
    receiver = WebhookReceiver().start()
    receiver.secrets[args.path] = args.secret
    print(receiver.address, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
