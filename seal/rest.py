"""What every API of the project shares: lab-key authentication, the error body, paging, limits.

One error shape everywhere, including for ApplicationError raised by services:

    {"error": {"code": "invalid", "message": "Invalid input.", "fields": {"name": ["required"]}}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback
from rest_framework_api_key.permissions import KeyParser

from seal.errors import ApplicationError
from seal.jsonlimits import JSONLimitError, json_loads_limited
from seal.models import Lab, LabAPIKey
from seal.security import security_event
from seal.selectors import lab_api_key_check

logger = logging.getLogger(__name__)

API_KEY_KEYWORD = "Api-Key"


class LabClient:
    """The `request.user` of a lab API request: the lab behind the presented key."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, key: LabAPIKey) -> None:
        self.key = key
        self.lab: Lab = key.lab
        self.pk = f"lab-key:{key.prefix}"

    def __str__(self) -> str:
        return f"{self.lab} (key {self.key.prefix})"


class LabAPIKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>`; a missing key is 401 not_authenticated, a bad, revoked or
    expired one 401 authentication_failed."""

    key_parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[LabClient, LabAPIKey] | None:
        raw_key = self.key_parser.get(request)
        if not raw_key:
            return None
        check = lab_api_key_check(raw_key=raw_key)
        if check.key is None:
            raise exceptions.AuthenticationFailed(check.problem)
        return LabClient(check.key), check.key

    def authenticate_header(self, request: Request) -> str:
        return f'{API_KEY_KEYWORD} realm="api"'


class LabAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = LabAPIKeyAuthentication
    name = "LabAPIKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Your lab's key, sent as `Authorization: Api-Key <key>`.",
        }


class HasLabAPIKey(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, LabAPIKey)


class LabKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key, at SEAL_API_RATE_LIMIT (read per request, never at import)."""

    scope = "lab_key"

    def get_rate(self) -> str:
        return str(settings.SEAL_API_RATE_LIMIT)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, LabAPIKey):
            return f"seal-throttle-key-{request.auth.prefix}"
        return None


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class LimitedJSONParser(JSONParser):
    """JSON bodies up to SEAL_API_MAX_BODY_BYTES; larger ones are refused before being read, and
    bodies nested too deep or holding absurdly long numbers before being decoded."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = _body_limit()
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        try:
            too_large = declared is not None and int(declared) > limit
        except ValueError:
            too_large = False
        if too_large:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_limited(body.decode(encoding), parse_constant=_refuse_constant)
        except JSONLimitError as exc:
            raise exceptions.ParseError(f"The request body is refused: {exc}.") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError("The request body is not valid JSON.") from exc


def _body_limit() -> int:
    """The largest body the API takes: its own cap, or Django's if that is lower."""
    django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    api_limit = int(settings.SEAL_API_MAX_BODY_BYTES)
    return api_limit if django_limit is None else min(api_limit, int(django_limit))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class LabPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_serializer(component_name="ErrorDetail")
class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: invalid, not_found, ...")
    message = serializers.CharField()
    # DRF's metaclass pops declared fields, so this does not shadow Serializer.fields at runtime.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per-field problems; keys name the request field (nested: a.b, list item: a.0)",
    )


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of an operation (all share ErrorSerializer)."""
    descriptions = {
        400: "Invalid input; `fields` names each bad field",
        401: "Missing, invalid, revoked or expired API key",
        404: "Not found (or another lab's)",
        413: "Request body too large",
        415: "Body is not JSON",
        429: "Rate limit reached; see the Retry-After header",
    }
    return {
        status: OpenApiResponse(response=ErrorSerializer, description=descriptions[status])
        for status in statuses
    }


def list_error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses of a paged list: those given, and 404 for a `page` that
    does not exist (below 1 or past the last page)."""
    return {
        **error_responses(*statuses),
        404: OpenApiResponse(response=ErrorSerializer, description="No such page"),
    }


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            for name, messages in _flatten(
                value, f"{prefix}.{key}" if prefix else str(key)
            ).items():
                flat.setdefault(name, []).extend(messages)
        return flat
    if isinstance(detail, list):
        if any(isinstance(item, dict | list) for item in detail):
            flat = {}
            for index, item in enumerate(detail):
                nested = _flatten(item, f"{prefix}.{index}" if prefix else str(index))
                for name, messages in nested.items():
                    flat.setdefault(name, []).extend(messages)
            return flat
        return {prefix or "non_field_errors": [str(item) for item in detail]}
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, WWW-Authenticate, Retry-After, rollback), then one body shape."""
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(
            error_body(
                "invalid" if exc.field_errors else "rejected", exc.message, exc.field_errors
            ),
            status=400,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # DRF reads request.body before any parser runs, so Django's own cap fires first.
        exc = RequestTooLarge(f"The request body is larger than {_body_limit()} bytes.")
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("unhandled error in %s", type(view).__name__ if view else "an API view")
        set_rollback()
        return Response(error_body("server_error", "Something went wrong on our side."), 500)
    assert isinstance(exc, exceptions.APIException)
    _log_refusal(exc, context, response.status_code)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        only = fields.get("non_field_errors")
        message = only[0] if only and len(fields) == 1 else "Invalid input."
        response.data = error_body("invalid", message, fields)
    elif isinstance(exc, exceptions.NotFound):
        response.data = error_body("not_found", "Not found.")
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        response.data = error_body(str(code), str(exc.detail))
    return response


def _log_refusal(exc: exceptions.APIException, context: dict[str, Any], status: int) -> None:
    """Authentication and permission refusals go to the security log (never the key itself)."""
    drf_request = context.get("request")
    request = getattr(drf_request, "_request", None)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        security_event("api_auth_failed", request=request, status=status, reason=exc.get_codes())
    elif isinstance(exc, exceptions.PermissionDenied):
        security_event("permission_denied", request=request, status=status)
    elif isinstance(exc, exceptions.NotFound) and isinstance(
        getattr(drf_request, "auth", None), LabAPIKey
    ):
        # A lab asking for another lab's object gets 404 too; worth seeing if it repeats.
        security_event("not_found", request=request, status=status)


@csrf_exempt  # whatever the method: otherwise a POST gets the CSRF failure page, not this 404
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error shape, not with an HTML page."""
    return JsonResponse(
        error_body("not_found", "No such API endpoint. API paths end with a slash."), status=404
    )
