"""Pages of the project package: the home page, the health check and the CSRF failure page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from seal.selectors import domain_list_public, health_status


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "seal/home.html", {"domains": domain_list_public()})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    status = health_status()
    return JsonResponse(status, status=200 if status["status"] == "ok" else 503)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form refused for its missing or stale CSRF token, as a site page (CSRF_FAILURE_VIEW)."""
    # Django's reason names the check that failed; useful to a developer, noise to an annotator.
    context = {"reason": reason if settings.DEBUG else "", "form_url": request.path}
    return render(request, "403_csrf.html", context, status=403)
