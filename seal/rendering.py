"""Model answers and prompts are untrusted text: render Markdown, highlight code, sanitise.

Raw HTML in the source is never passed through (markdown-it escapes it), and the output goes
through an allow-list sanitiser as a second line of defence, so no script in an answer can run.

markdown-it-py is pure Python: some inputs under the answer size cap (megabytes of nested `[`,
of `[a](b)`) take tens of seconds, and a thread cannot be interrupted. So an answer is rendered
once, when it is stored, by `AnswerRenderer`: inputs of a shape known to be slow, or too long,
are refused before rendering; the rest are rendered in a child process that is killed when one
answer takes longer than the time limit (short text without any Markdown syntax, linear to
render, is rendered in-process); HTML over the size limit is dropped. Each of these falls
back to the escaped text in <pre>. Pages show the stored HTML and never render an answer again.

This module imports nothing of the project (the child process loads it by path).
"""

from __future__ import annotations

import html
import os
import re
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "pre",
    "code",
    "span",
    "em",
    "strong",
    "del",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "th": {"class"},
    "td": {"class"},
    "ol": {"start"},
}
_FORMATTER = HtmlFormatter(nowrap=True)

# Why an answer was shown as plain text instead of rendered Markdown.
TOO_LONG = "too_long"
SLOW_SHAPE = "slow_shape"
TIMEOUT = "timeout"
TOO_LARGE = "html_too_large"
RENDERER_FAILED = "renderer_failed"

# Short text with none of these renders as plain paragraphs (perhaps a list or indented code),
# in time linear in its length: no child process is needed for it.
_MARKUP_CHARACTERS = re.compile(r"[\\`*_\[\]<>#+\-=|~!&]")
PLAIN_IN_PROCESS_MAX_CHARS = 4_000

_LENGTH = struct.Struct(">I")
_CHILD_OK = b"H"
_CHILD_TOO_LARGE = b"L"


@dataclass(frozen=True)
class RenderLimits:
    """Bounds on rendering one answer; from settings (SEAL_RENDER_*), passed in by the caller."""

    timeout_seconds: float = 5.0
    max_markdown_chars: int = 200_000
    max_brackets: int = 5_000
    max_html_chars: int = 2_000_000


@dataclass(frozen=True)
class RenderedAnswer:
    html: str
    fallback: str = ""  # empty when the Markdown was rendered, else why it was not


def _highlight(code: str, language: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(language.strip().lower()) if language.strip() else None
    except ClassNotFound:
        lexer = None
    body = highlight(code, lexer, _FORMATTER) if lexer else html.escape(code)
    return f'<pre class="highlight"><code>{body}</code></pre>'


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable("table")
_MARKDOWN.enable("strikethrough")


def _alignment_as_classes(state: StateCore) -> None:
    """Table alignment as classes: the Content-Security-Policy blocks inline style attributes."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open"):
            style = token.attrGet("style")
            if isinstance(style, str) and style.startswith("text-align:"):
                del token.attrs["style"]
                token.attrSet("class", f"align-{style.removeprefix('text-align:')}")


_MARKDOWN.core.ruler.push("alignment_as_classes", _alignment_as_classes)


def _sanitise(markup: str) -> str:
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def markdown_render(text: str) -> SafeString:
    """Untrusted Markdown to safe HTML: no raw HTML, highlighted code, allow-listed tags only.

    Unbounded in time: for prompts (staff-imported, size-capped) and inside the renderer's child
    process. Answers go through `AnswerRenderer` instead."""
    # Safe to mark: markdown-it escaped any raw HTML and nh3 kept only allow-listed tags.
    return mark_safe(_sanitise(_MARKDOWN.render(text)))  # noqa: S308  # nosec B308 B703


def _escaped_pre(text: str) -> str:
    return f'<pre class="plain-text">{html.escape(text)}</pre>'


def plain_text_html(text: str) -> SafeString:
    """The text itself, escaped, in <pre>: what an answer that is not rendered shows."""
    # Safe to mark: escaped, and sanitised again like every stored fragment.
    return mark_safe(_sanitise(_escaped_pre(text)))  # noqa: S308  # nosec B308 B703


def stored_html(html_text: str, text: str) -> SafeString:
    """An answer's stored HTML for a page; the escaped text for a row stored without any."""
    if not html_text and text:
        # Escaping alone makes it inert; the sanitiser is skipped to keep the view cheap.
        return mark_safe(_escaped_pre(text))  # noqa: S308  # nosec B308 B703
    # Safe to mark: written only by AnswerRenderer (sanitised) or plain_text_html (escaped).
    return mark_safe(html_text)  # noqa: S308  # nosec B308 B703


def slow_shape(text: str, limits: RenderLimits) -> str:
    """Why this text is not worth rendering (too long, or a shape markdown-it is slow on)."""
    if len(text) > limits.max_markdown_chars:
        return TOO_LONG
    # Link labels and nested brackets are what the inputs are made of; real answers hold
    # a few dozen. str.count runs in C, so this costs nothing next to a render.
    if text.count("[") > limits.max_brackets:
        return SLOW_SHAPE
    return ""


def prompt_html(text: str) -> SafeString:
    """A prompt's HTML for a page. Prompts are staff-imported and capped in size, so they are
    rendered per view, in-process; shapes markdown-it is slow on show as escaped text."""
    if slow_shape(text, RenderLimits()):
        return plain_text_html(text)
    return markdown_render(text)


# --- The child process --------------------------------------------------------------------------


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _child_serve(max_html_chars: int) -> None:
    """The child's loop: a length-prefixed text in, a status byte and length-prefixed HTML out."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = _read_exactly(stdin, _LENGTH.size)
        if header is None:
            return
        body = _read_exactly(stdin, _LENGTH.unpack(header)[0])
        if body is None:
            return
        rendered = str(markdown_render(body.decode("utf-8")))
        if len(rendered) > max_html_chars:
            stdout.write(_CHILD_TOO_LARGE + _LENGTH.pack(0))
        else:
            payload = rendered.encode("utf-8")
            stdout.write(_CHILD_OK + _LENGTH.pack(len(payload)) + payload)
        stdout.flush()


# Loads this file by path, so the child imports neither Django settings nor the project's apps.
_CHILD_CODE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("seal_rendering_child", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
module._child_serve(int(sys.argv[2]))
"""


class _ChildGone(Exception):
    pass


class AnswerRenderer:
    """Renders answers in one reused child process; safe to call from many threads.

    Renders run one at a time. A render that outlasts the time limit kills the child; the next
    render starts a new one."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False

    def __enter__(self) -> AnswerRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._kill()

    def render(self, text: str) -> RenderedAnswer:
        """Sanitised HTML of one answer, or its escaped text with the reason it was not rendered."""
        if not text:
            return RenderedAnswer("")
        refused = slow_shape(text, self.limits)
        if refused:
            return RenderedAnswer(plain_text_html(text), refused)
        if len(text) <= PLAIN_IN_PROCESS_MAX_CHARS and not _MARKUP_CHARACTERS.search(text):
            return self._checked_size(text, str(markdown_render(text)))
        with self._lock:
            if self._closed:  # a call that outlived its collector: nobody will store this
                return RenderedAnswer(plain_text_html(text), RENDERER_FAILED)
            try:
                status, markup = self._exchange(text)
            except TimeoutError:
                self._kill()
                return RenderedAnswer(plain_text_html(text), TIMEOUT)
            except (_ChildGone, OSError):
                self._kill()
                return RenderedAnswer(plain_text_html(text), RENDERER_FAILED)
        if status == _CHILD_TOO_LARGE:
            return RenderedAnswer(plain_text_html(text), TOO_LARGE)
        return RenderedAnswer(markup)

    def _checked_size(self, text: str, markup: str) -> RenderedAnswer:
        if len(markup) > self.limits.max_html_chars:
            return RenderedAnswer(plain_text_html(text), TOO_LARGE)
        return RenderedAnswer(markup)

    def _start(self) -> subprocess.Popen[bytes]:
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(  # noqa: S603 - our own interpreter and code
                [
                    sys.executable,
                    "-I",
                    "-c",
                    _CHILD_CODE,
                    str(Path(__file__).resolve()),
                    str(self.limits.max_html_chars),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._child

    def _kill(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            for stream in (self._child.stdin, self._child.stdout):
                if stream is not None:
                    stream.close()
            self._child = None

    def _exchange(self, text: str) -> tuple[bytes, str]:
        child = self._start()
        assert child.stdin is not None
        assert child.stdout is not None
        deadline = time.monotonic() + self.limits.timeout_seconds
        body = text.encode("utf-8")
        try:
            child.stdin.write(_LENGTH.pack(len(body)) + body)
            child.stdin.flush()
        except BrokenPipeError as exc:
            raise _ChildGone from exc
        fd = child.stdout.fileno()
        header = self._read(fd, 1 + _LENGTH.size, deadline)
        status, size = header[:1], _LENGTH.unpack(header[1:])[0]
        return status, self._read(fd, size, deadline).decode("utf-8")

    @staticmethod
    def _read(fd: int, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        remaining = size
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                raise _ChildGone
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


def answers_render(texts: list[str], *, limits: RenderLimits) -> list[RenderedAnswer]:
    """Render several answers with one child process (for one-off stores and backfills)."""
    with AnswerRenderer(limits) as renderer:
        return [renderer.render(text) for text in texts]
