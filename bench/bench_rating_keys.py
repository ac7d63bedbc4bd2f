"""Key presses and seconds per rating, keyboard only, in Chromium: the same scripted rater on any
checkout of the project.

The rater logs in (not counted), then works from the workspace with the keyboard alone: Tab to
"Start next comparison" and Enter when on the workspace; on a comparison, the preference key,
then for every score field in page order Tab until it has the focus (none if it already has)
and the number 4, Tab to the justification and type it, Ctrl+Enter. Every key press is counted
(the justification's characters separately: they are the same text everywhere). Seconds run from
one comparison page opening to the next one opening (or the workspace, after the last).

    python bench/bench_rating_keys.py                            # this checkout, 5 comparisons
    git archive main | tar -x -C /tmp/seal-main
    python bench/bench_rating_keys.py --project /tmp/seal-main   # the same rater on main

Each run uses a fresh SQLite file and its own `manage.py runserver` (development settings).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("SEAL_CHROMIUM", "/usr/bin/chromium")
USERNAME, PASSWORD = "bench-rater", "test-password-123"  # tests.factories.UserFactory's password
JUSTIFICATION = "A handles the empty list and explains in-place sorting; B does not."
PREFERENCE_KEYS = "24135"
MAX_TABS = 300
# Answers of a realistic length: a few screens each.
SEED = """
from django.conf import settings
from tests.builders import build_world
settings.SEAL_GOLD_RATE = 0.0
answer = "Answer {{i}} from model {{m}}.\\n\\n" + "\\n\\n".join(
    f"Step {{n}}: sort the list in place, then check the empty and the one-item case."
    for n in range(30)
)
world = build_world(task_count={count}, answer_text=answer)
world.annotator("{username}")
"""


@dataclass
class Rating:
    keys: int  # every press but the justification's characters
    text_keys: int
    seconds: float
    form_top_px: float  # where the rating form starts on the page, on arrival
    score_in_view: bool  # the first score field is on screen on arrival, without scrolling


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(project: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=project, env=env, check=True, timeout=600
    )


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own local server
            return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"the server at {url} did not come up")


class Rater:
    """Presses keys and counts them."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.keys = 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.keys += 1

    def focused_is(self, selector: str) -> bool:
        return self.page.evaluate(
            "s => document.activeElement && document.activeElement.matches(s)", selector
        )

    def tab_to(self, selector: str) -> None:
        for _ in range(MAX_TABS):
            if self.focused_is(selector):
                return
            self.press("Tab")
        raise SystemExit(f"{selector} never took the focus in {MAX_TABS} tabs")


def rate_all(page: Any, base_url: str, count: int) -> list[Rating]:
    rater = Rater(page)
    page.goto(f"{base_url}/work/")
    rater.tab_to("#start-next")
    with page.expect_navigation():
        rater.press("Enter")
    ratings: list[Rating] = []
    while "/work/comparisons/" in page.url:
        if len(ratings) == count:
            raise SystemExit("more comparisons than seeded")
        started, keys_before = time.perf_counter(), rater.keys
        form_top = page.evaluate(
            "() => document.getElementById('rating-form').getBoundingClientRect().top"
            " + window.scrollY"
        )
        in_view = page.evaluate(
            "() => { const r = document.querySelector('[name^=score_]').getBoundingClientRect();"
            " return r.top >= 0 && r.bottom <= window.innerHeight; }"
        )
        rater.press(PREFERENCE_KEYS[len(ratings) % len(PREFERENCE_KEYS)])
        names = page.evaluate(
            "() => [...new Set([...document.querySelectorAll('[name^=score_]')].map(e => e.name))]"
        )
        for name in names:
            rater.tab_to(f"[name='{name}']")
            rater.press("4")
        rater.tab_to("textarea[name=justification]")
        page.keyboard.type(JUSTIFICATION)
        with page.expect_navigation():
            rater.press("Control+Enter")
        if page.url.endswith("/work/") and "No comparison" not in page.content():
            rater.tab_to("#start-next")
            with page.expect_navigation():
                rater.press("Enter")
        ratings.append(
            Rating(
                keys=rater.keys - keys_before,
                text_keys=len(JUSTIFICATION),
                seconds=time.perf_counter() - started,
                form_top_px=form_top,
                score_in_view=in_view,
            )
        )
    history = page.goto(f"{base_url}/work/history/")
    assert history is not None
    submitted = page.content().count("Awaiting layer-1 review")
    if submitted != count:
        raise SystemExit(f"{submitted} of {count} ratings were submitted")
    return ratings


def main() -> None:
    parser = argparse.ArgumentParser(description="Key presses and seconds per rating.")
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--comparisons", type=int, default=5)
    args = parser.parse_args()
    project = args.project.resolve()

    workdir = Path(tempfile.mkdtemp(prefix="seal-bench-keys-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "SEAL_ENV": "development",
        "SEAL_GOLD_RATE": "0",
        "PYTHONPATH": str(project),
    }
    manage(project, env, "migrate", "--no-input", "-v", "0")
    seed = SEED.format(count=args.comparisons, username=USERNAME)
    manage(project, env, "shell", "-c", seed)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_up(f"{base_url}/accounts/login/")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base_url}/accounts/login/")
            page.fill("#id_username", USERNAME)
            page.fill("#id_password", PASSWORD)
            with page.expect_navigation():
                page.click("form[action$='/accounts/login/'] button[type=submit]")
            ratings = rate_all(page, base_url, args.comparisons)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"project: {project}  comparisons: {len(ratings)}  window: 1280 x 900")
    print("| rating | keys | + justification chars | seconds | form top (px) | score in view |")
    print("|---:|---:|---:|---:|---:|:-:|")
    for n, r in enumerate(ratings, 1):
        print(
            f"| {n} | {r.keys} | {r.text_keys} | {r.seconds:.2f} | {r.form_top_px:.0f} "
            f"| {'yes' if r.score_in_view else 'no'} |"
        )
    print(
        f"| mean | {statistics.mean(r.keys for r in ratings):.1f} | {len(JUSTIFICATION)} "
        f"| {statistics.mean(r.seconds for r in ratings):.2f} "
        f"| {statistics.mean(r.form_top_px for r in ratings):.0f} | |"
    )


if __name__ == "__main__":
    main()
