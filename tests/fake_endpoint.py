"""A lab endpoint for tests and the benchmark: OpenAI chat completions on 127.0.0.1.

How it answers depends on the `model` a request names, so one server plays many labs:

    ok[-anything]     answers after `latency` seconds
    slow              answers after `slow_seconds`
    flaky             answers 429 (Retry-After: `retry_after`) to the first `flaky_failures`
                      requests for each prompt, then answers
    error             always 500
    hang              sends nothing until the server stops (or `hang_seconds` pass)
    redirect          307 to another URL
    garbage           200 with a body that is not a chat completion
    denied            401 whose body echoes the Authorization header (JSON-escaped, URL-encoded)

`answers` sets the answer to prompts containing a key (in the answering modes); it goes out
JSON-escaped as json.dumps writes it, so "\ud800" reaches the client as the six characters of
the escape, as from an API that cut an emoji in half.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote

from tests.fake_http import LocalServer


@dataclass
class Seen:
    model: str
    prompt: str
    authorization: str
    at: float


@dataclass
class FakeEndpoint(LocalServer):
    latency: float = 0.0
    slow_seconds: float = 0.3
    flaky_failures: int = 1
    retry_after: str = "1"
    hang_seconds: float = 60.0
    answers: dict[str, str] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    # Many collectors may connect at once.
    backlog = 256

    def __post_init__(self) -> None:
        self._failures: defaultdict[str, int] = defaultdict(int)
        self._serve()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def calls_for(self, model: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.requests if seen.model == model]

    def prompt_counts(self, model: str) -> Counter[str]:
        return Counter(seen.prompt for seen in self.calls_for(model))

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        payload = json.loads(handler.rfile.read(length) or b"{}")
        model = str(payload.get("model", ""))
        prompt = payload["messages"][-1]["content"] if payload.get("messages") else ""
        mode = model.split("-", 1)[0]
        authorization = handler.headers.get("Authorization", "")

        def record() -> None:
            self.requests.append(Seen(model, prompt, authorization, time.monotonic()))

        with self._arrived(model, record):
            self._respond(handler, mode, model, prompt)

    def _respond(self, handler: BaseHTTPRequestHandler, mode: str, model: str, prompt: str) -> None:
        if mode == "hang":
            self.release.wait(self.hang_seconds)
            handler.close_connection = True
            return
        if mode == "error":
            self._send(handler, 500, b'{"error": "boom"}')
            return
        if mode == "redirect":
            self._send(handler, 307, b"", Location="http://169.254.169.254/latest/meta-data/")
            return
        if mode == "denied":
            authorization = handler.headers.get("Authorization", "")
            echo = {"error": f"invalid credentials: {authorization}", "hint": quote(authorization)}
            self._send(handler, 401, json.dumps(echo).encode())
            return
        if mode == "garbage":
            self._send(handler, 200, b'{"hello": "world"}')
            return
        if mode == "flaky":
            with self._lock:
                self._failures[prompt] += 1
                failing = self._failures[prompt] <= self.flaky_failures
            if failing:
                self._send(handler, 429, b'{"error": "slow down"}', Retry_After=self.retry_after)
                return
        time.sleep(self.slow_seconds if mode == "slow" else self.latency)
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
        content = next(
            (answer for key, answer in self.answers.items() if key in prompt),
            f"Answer {digest} from {model}",
        )
        body = {
            "id": f"chatcmpl-{digest}",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 7},
        }
        self._send(handler, 200, json.dumps(body).encode())


def main() -> None:
    """Serve until interrupted; `python -m tests.fake_endpoint --latency 0.1` prints its URL."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    endpoint = FakeEndpoint(latency=args.latency).start()
    print(endpoint.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        endpoint.stop()


if __name__ == "__main__":
    main()
