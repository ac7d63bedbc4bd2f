"""What the public sees of each domain, remembered per web process until PostgreSQL says it moved.

Reading the public pointer fresh was most of a cached public request's time (one ORM query plus
the connection health check, waiting on a shared database server). A published snapshot never
changes, so the only thing a cached page can get wrong is *which* snapshot is public. That is kept
in process memory and forgotten on the database's word: triggers (migration
0011_i13read_public_notify) send a NOTIFY on `CHANNEL` in every transaction that changes a pointer,
a snapshot's visibility or a domain, and one listener thread per process, on its own connection,
forgets everything it remembered when one arrives.

How stale a reader can be: from the writer's COMMIT until this process's listener has read the
notification (PostgreSQL sends it right after the commit; the thread wakes on its socket), and never
longer than `SEAL_LEADERBOARD_POINTER_MAX_AGE` seconds, after which an entry is read again
whatever the listener says. While the listener is not connected (starting, or its connection
lost) nothing is remembered: every request reads fresh, as without this module. Inside a
transaction reads are always fresh (the transaction may itself have moved the pointer, and its
NOTIFY only goes out at commit). On SQLite, or with `SEAL_LEADERBOARD_POINTER_CACHE` off (the
default outside production), every read is fresh.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "seal_leaderboard_public"
T = TypeVar("T")


class _Listener:
    """One process's LISTEN connection and what it remembers; `generation` counts forgettings."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self.listening = False
        self.stopping = threading.Event()
        self.values: dict[Hashable, tuple[int, float, Any]] = {}
        # Rendered bodies by cache key, least recently used first, and their total size.
        self.bodies: OrderedDict[str, bytes] = OrderedDict()
        self.body_bytes = 0
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def forget(self, *, listening: bool | None = None) -> None:
        with self.lock:
            self.generation += 1
            self.values.clear()
            self.bodies.clear()
            self.body_bytes = 0
            if listening is not None:
                self.listening = listening

    def run(self, params: dict[str, Any]) -> None:
        import psycopg

        while not self.stopping.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Anything remembered before this LISTEN may have missed a notification.
                    self.forget(listening=True)
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.forget()
                        # A dead connection only shows when used: check it now and then.
                        conn.execute("SELECT 1")
            except Exception:
                if not self.stopping.is_set():
                    logger.warning("public pointer listener lost its connection", exc_info=True)
            finally:
                self.forget(listening=False)
            self.stopping.wait(1.0)


_listener: _Listener | None = None
_start_lock = threading.Lock()


def _connection_params() -> dict[str, Any]:
    # The very settings Django connects with (test database name included).
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    return {key: value for key, value in params.items() if value not in (None, "")}


def _running_listener() -> _Listener:
    """This process's listener, started on first use (and again in a forked child)."""
    global _listener
    listener = _listener
    if listener is not None and listener.pid == os.getpid():
        return listener
    with _start_lock:
        if _listener is None or _listener.pid != os.getpid():
            listener = _Listener()
            params = _connection_params()
            listener.thread = threading.Thread(
                target=listener.run, args=(params,), name="seal-public-pointer", daemon=True
            )
            listener.thread.start()
            _listener = listener
        return _listener


def listener_stop() -> None:
    """Stop this process's listener and forget everything (tests; a process about to exit)."""
    global _listener
    with _start_lock:
        listener, _listener = _listener, None
    if listener is not None:
        listener.stopping.set()
        if listener.thread is not None:
            listener.thread.join(timeout=5)
        listener.forget(listening=False)


def listener_ready(timeout: float = 5.0) -> bool:
    """Start the listener if needed and wait until it listens (tests; warm-up)."""
    listener = _running_listener()
    deadline = time.monotonic() + timeout
    while not listener.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    return listener.listening


def _enabled() -> bool:
    return (
        bool(settings.SEAL_LEADERBOARD_POINTER_CACHE)
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    )


def remembered(key: Hashable, read: Callable[[], T]) -> T:
    """`read()`, or what it returned before if nothing public changed since (see module doc)."""
    if not _enabled():
        return read()
    listener = _running_listener()
    with listener.lock:
        generation, listening = listener.generation, listener.listening
        hit = listener.values.get(key)
    started = time.monotonic()
    if (
        listening
        and hit is not None
        and hit[0] == generation
        and started - hit[1] < float(settings.SEAL_LEADERBOARD_POINTER_MAX_AGE)
    ):
        return hit[2]
    value = read()
    if listening:
        with listener.lock:
            # A notification during the read bumped the generation: then it is not kept.
            if listener.generation == generation:
                listener.values[key] = (generation, started, value)
    return value


def body(key: str, load: Callable[[], bytes | None]) -> bytes | None:
    """A rendered public body by its cache key: from process memory, else `load()` (the shared
    cache), kept in memory if found. Keys name immutable content (snapshot, publication, board),
    so a remembered body is never wrong for its key; it only saves unpickling, or a 100 kB Redis
    transfer, per request. Used where `remembered` is (setting on, PostgreSQL, outside a
    transaction) and emptied with it on every notification, which bounds stale keys' memory."""
    if not _enabled():
        return load()
    listener = _running_listener()
    with listener.lock:
        found = listener.bodies.get(key)
        if found is not None:
            listener.bodies.move_to_end(key)
            return found
    found = load()
    if found is not None:
        body_keep(key, found)
    return found


def body_keep(key: str, content: bytes) -> None:
    """Remember a body just rendered (see `body`), evicting the least recently used past
    SEAL_LEADERBOARD_BODY_MEMORY_BYTES."""
    if not _enabled():
        return
    listener = _running_listener()
    limit = int(settings.SEAL_LEADERBOARD_BODY_MEMORY_BYTES)
    if len(content) > limit:
        return
    with listener.lock:
        previous = listener.bodies.pop(key, None)
        if previous is not None:
            listener.body_bytes -= len(previous)
        listener.bodies[key] = content
        listener.body_bytes += len(content)
        while listener.body_bytes > limit:
            _, evicted = listener.bodies.popitem(last=False)
            listener.body_bytes -= len(evicted)
