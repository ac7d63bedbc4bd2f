"""What the local test servers share (tests/fake_endpoint.py, tests/fake_webhook_receiver.py): a
threaded HTTP/1.1 server on 127.0.0.1 at a free port, started and stopped with the test (or as a
context manager), a lock for its request log, in-flight counts, and JSON replies."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self, TypeVar

T = TypeVar("T")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a hanging call resets its connection: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalServer:
    """A server the test starts and stops. A subclass answers POSTs in `_handle` (and GETs in
    `_get`), calls `_serve()` from its `__post_init__`, and keeps its request log under `_lock`.
    `release` is set when the server stops, so a handler holding a request back lets it go."""

    # Many clients may connect at once; the default backlog of 5 would refuse some.
    backlog = 64
    in_flight: Counter[str]
    max_in_flight: Counter[str]

    def _serve(self) -> None:
        self._lock = threading.Lock()
        self.release = threading.Event()
        self.in_flight = Counter()
        self.max_in_flight = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes; with Nagle on, each answer would wait
            # for the client's delayed ACK (about 40 ms). Real servers do not pay that.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                owner._handle(self)

            def do_GET(self) -> None:
                owner._get(self)

        self.server = _Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.request_queue_size = self.backlog
        try:
            self.server.server_bind()
            self.server.server_activate()
        except OSError:
            self.server.server_close()
            raise
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        # As BaseHTTPRequestHandler answers a method it has no do_ method for.
        handler.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({handler.command!r})")

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def address(self) -> str:
        """host:port, as SEAL_ENDPOINT_ALLOWED_HOSTS lets this server (and no other port) in."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @contextmanager
    def _arrived(self, key: str, record: Callable[[], T]) -> Iterator[T]:
        """Log a request (`record`, under the lock; its result is yielded) and count it in flight
        to `key` while it is answered, keeping the most at once."""
        with self._lock:
            recorded = record()
            self.in_flight[key] += 1
            self.max_in_flight[key] = max(self.max_in_flight[key], self.in_flight[key])
        try:
            yield recorded
        finally:
            with self._lock:
                self.in_flight[key] -= 1

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers: str
    ) -> None:
        """Answer with a JSON body; a header's underscores become dashes (Retry_After)."""
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(body)
