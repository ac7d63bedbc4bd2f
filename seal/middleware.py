"""Project middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from seal.security import security_event


class SecurityLogMiddleware:
    """Logs every PermissionDenied a view raises (Django answers it with 403).

    DRF views handle their own exceptions; seal.rest.exception_handler logs those.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        if isinstance(exception, PermissionDenied):
            security_event("permission_denied", request=request, status=403)
        # Returning None lets Django turn the exception into its usual response.
