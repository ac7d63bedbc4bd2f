"""Rendering answers: the old per-view Markdown render against render-once-at-collection.

Inputs: the issue's two pathological answers (4 MB of nested `[`, 3.9 MB of `[a](b)`), both under
the 4 MiB answer cap, and a normal 20 KB answer (prose, code blocks, lists, a table, links).

- "old, per view": `markdown_render(text)`, what every page view of an answer used to run, in the
  web process. Run in a child process stopped after --old-cap seconds so the bench always ends.
- "now, at collection": `AnswerRenderer.render(text)` with the default limits, once per answer
  (refusal checks, then the bounded child process; a fresh renderer, so the normal answer's
  figure includes starting the child).
- "now, per view": what a page does with the stored HTML (`stored_html`).

    python bench/bench_render.py                 # prints a Markdown table
    python bench/bench_render.py --old-cap 300

No database is used.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seal.rendering import (  # noqa: E402 - after the path insert
    AnswerRenderer,
    RenderLimits,
    markdown_render,
    stored_html,
)


def normal_answer(size: int = 20_000) -> str:
    block = (
        "Here is **how** to do it, with `inline code`, a [link](https://example.org/docs) and "
        "_emphasis_.\n\n```python\ndef pairs(xs):\n    return [(a, b) for a in xs for b in xs]"
        "\n```\n\n- first point\n- second point with *stars*\n  - nested\n\n"
        "| input | output |\n|---|:-:|\n| [1, 2] | 4 pairs |\n\n"
    )
    return (block * (size // len(block) + 1))[:size]


def _old_render(text: str, queue: multiprocessing.Queue[float]) -> None:
    started = time.perf_counter()
    markdown_render(text)
    queue.put(time.perf_counter() - started)


def old_per_view_seconds(text: str, cap: float) -> str:
    queue: multiprocessing.Queue[float] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_old_render, args=(text, queue))
    process.start()
    process.join(cap)
    if process.is_alive():
        process.kill()
        process.join()
        return f"> {cap:.0f} (stopped)"
    return f"{queue.get():.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old-cap", type=float, default=180.0)
    args = parser.parse_args()
    inputs = {
        "4 MB of nested `[`": "[" * 4_000_000,
        "3.9 MB of `[a](b)`": "[a](b)" * 650_000,
        "normal 20 KB answer": normal_answer(),
    }
    print(
        "| answer | old, per view (s) | now, at collection (s) | now, per view (ms) | stored as |"
    )
    print("|---|---|---|---|---|")
    for name, text in inputs.items():
        old = old_per_view_seconds(text, args.old_cap)
        with AnswerRenderer(RenderLimits()) as renderer:
            started = time.perf_counter()
            rendered = renderer.render(text)
            at_collection = time.perf_counter() - started
        started = time.perf_counter()
        stored_html(rendered.html, text)
        per_view_ms = (time.perf_counter() - started) * 1000
        kind = f"escaped text ({rendered.fallback})" if rendered.fallback else "rendered Markdown"
        print(f"| {name} | {old} | {at_collection:.3f} | {per_view_ms:.3f} | {kind} |")


if __name__ == "__main__":
    main()
