"""Logging filters: what must never reach a log line."""

from __future__ import annotations

import logging
import re

# A path followed by a query string, as it appears in a request line or a URL.
_QUERY = re.compile(r"(/[^\s?\"'#]*)\?[^\s\"'#]*")


def query_strings_strip(text: str) -> str:
    """`text` with the query string of every path in it cut off."""
    return _QUERY.sub(r"\1", text)


class QueryStringFilter(logging.Filter):
    """Cuts query strings out of request log lines (runserver's request lines, django.request).

    A staff search (/admin/seal/prompt/?q=...) carries private prompt text in its query string.
    The request object Django attaches to its records goes too: its repr is the full URL, which a
    formatter that writes every record attribute (JSON) would put in the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request", None) is not None:
            record.request = None
        if isinstance(record.msg, str):
            record.msg = query_strings_strip(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                query_strings_strip(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
