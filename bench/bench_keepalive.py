"""Requests sent on a kept-alive connection just as the server's keep-alive timeout closes it.

Why 3 of 200 logins at once were dropped (RemoteProtocolError, "server disconnected without
sending a response"), as diagnosed: each client fetched the login page, waited for the others,
then posted on the same connection; with gunicorn's default keep-alive of 2 s the server could
close an idle connection while its client was sending on it. This bench aims at that moment:
every client opens the login page, all wait together, then each sends again 1.9-3.1 s later (as
a 2 s keep-alive lapses), and every outcome is counted. The race needs the server's main loop to
be busy at that instant, so it shows rarely here (see the README for the counts):

    python bench/bench_keepalive.py                  # as configured (65 s)
    python bench/bench_keepalive.py --keep-alive 2   # gunicorn's default

Only the login page is used (GET, then a POST without a token: an expected 403), so no password
is checked; a throwaway SQLite database under a temporary folder. Exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-alive", type=int, default=None, help="default: gunicorn.conf.py")
    options = parser.parse_args()
    import httpx

    folder = tempfile.mkdtemp(prefix="bench-keepalive-")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder}/db.sqlite3",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_BROKER_URL", None)
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [str(bin_dir / "gunicorn"), "seal.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "2"]
    if options.keep_alive is not None:
        command += ["--keep-alive", str(options.keep_alive)]
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL, start_new_session=True
    )
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        for _ in range(options.rounds):
            barrier = threading.Barrier(options.clients)

            def client(index: int, barrier: threading.Barrier = barrier) -> None:
                try:
                    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                        http.get("/accounts/login/")
                        barrier.wait()
                        time.sleep(1.9 + 1.2 * index / options.clients)
                        outcome = str(http.post("/accounts/login/", data={}).status_code)
                except Exception as exc:
                    outcome = type(exc).__name__
                with lock:
                    outcomes[outcome] += 1

            threads = [threading.Thread(target=client, args=(i,)) for i in range(options.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    keep_alive = options.keep_alive if options.keep_alive is not None else "conf"
    print(
        f"keep-alive={keep_alive} clients={options.clients} rounds={options.rounds}: "
        f"{dict(sorted(outcomes.items()))}"
    )
    failed = sum(n for outcome, n in outcomes.items() if outcome != "403")
    print(f"requests dropped or failed: {failed} of {sum(outcomes.values())}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
