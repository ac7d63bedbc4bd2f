"""Pages of the project package: the home page and the health check."""

from __future__ import annotations

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
