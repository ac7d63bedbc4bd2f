"""Structured security events: authentication and permission decisions as JSON lines.

Everything goes to the "seal.security" logger, one event per record, with the fields as record
attributes (event, user, ip, path, method, status) so the JSON formatter turns them into keys.
Only identities and outcomes are logged: never a password, API key, endpoint secret or prompt
text. The receivers below only log; lockout itself is django-axes' job.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

logger = logging.getLogger("seal.security")

# A username is user input: cap it so a pasted essay (or password) cannot flood the log line.
USERNAME_MAX_CHARS = 150


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer address as the WSGI server saw it (forwarded headers can be forged)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR")


def _username(user: Any) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    get_username = getattr(user, "get_username", None)
    return str(get_username() if get_username else user)[:USERNAME_MAX_CHARS]


def security_event(
    event: str,
    *,
    request: HttpRequest | None,
    user: str | None = None,
    status: int | None = None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """Log one security event. `user` defaults to the request's signed-in user, if any."""
    if user is None and request is not None:
        user = _username(getattr(request, "user", None))
    logger.log(
        level,
        event,
        extra={
            "event": event,
            "user": user,
            "ip": client_ip(request),
            "path": request.path if request is not None else None,
            "method": request.method if request is not None else None,
            "status": status,
            **fields,
        },
    )


@receiver(user_logged_in, dispatch_uid="seal.security.login_success")
def _log_login_success(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    security_event("login_success", request=request, user=_username(user))


@receiver(user_login_failed, dispatch_uid="seal.security.login_failed")
def _log_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; only the username is taken.
    username = credentials.get("username")
    security_event(
        "login_failed",
        request=request,
        user=str(username)[:USERNAME_MAX_CHARS] if username is not None else None,
        level=logging.WARNING,
    )


@receiver(user_logged_out, dispatch_uid="seal.security.logout")
def _log_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    security_event("logout", request=request, user=_username(user))


@receiver(user_locked_out, dispatch_uid="seal.security.lockout")
def _log_lockout(
    sender: Any, request: HttpRequest | None, username: str | None, **kwargs: Any
) -> None:
    security_event(
        "lockout",
        request=request,
        user=str(username)[:USERNAME_MAX_CHARS] if username is not None else None,
        status=429,
        level=logging.WARNING,
    )
