"""Model answers and prompts are untrusted text: render Markdown, highlight code, sanitise.

Raw HTML in the source is never passed through (markdown-it escapes it), and the output goes
through an allow-list sanitiser as a second line of defence, so no script in an answer can run.
"""

from __future__ import annotations

import html

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


def markdown_render(text: str) -> SafeString:
    """Untrusted Markdown to safe HTML: no raw HTML, highlighted code, allow-listed tags only."""
    rendered = _MARKDOWN.render(text)
    cleaned = nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    # Safe to mark: markdown-it escaped any raw HTML and nh3 kept only allow-listed tags above.
    return mark_safe(cleaned)  # noqa: S308  # nosec B308 B703
