"""The one application error that services raise when a precondition fails."""

from __future__ import annotations


class ApplicationError(Exception):
    """A request the platform refuses, with a message fit to show and optional per-field detail."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}
