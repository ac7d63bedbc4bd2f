"""The public leaderboard pages: no login, server-rendered, served from the published snapshot.

A published snapshot never changes (database triggers hold it), so an anonymous visitor's page is
rendered once per publication and cached under the snapshot id and publication time read fresh
from the pointer; a request costs that one indexed lookup, and a moved pointer is seen at once.
Signed-in users get the page rendered for them (the header names them). Charts are matplotlib SVG
served as images with their own content type and a locked-down CSP.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from leaderboards.models import OVERALL_KEY, SnapshotChart
from leaderboards.selectors import (
    board_view,
    domain_seasons,
    leaderboard_index,
    leaderboard_index_version,
    model_view,
    public_chart_board,
    public_chart_svg,
    public_ratings_file,
    public_ratings_file_exists,
    public_sample_prompts,
    published_version,
    season_version,
)
from leaderboards.services import snapshot_chart_ensure
from seal.errors import ApplicationError
from seal.rendering import prompt_html

# Bump when the templates change, so cached pages of an unchanged snapshot are drawn anew.
PAGE_VERSION = "1"
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _max_age() -> int:
    return int(settings.SEAL_LEADERBOARD_CACHE_SECONDS)


def _etag_matches(request: HttpRequest, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def _public_page(
    request: HttpRequest, *, key: str, render_page: Callable[[], HttpResponse]
) -> HttpResponse:
    """Render (or reuse) an anonymous page for `key`; signed-in users get their own rendering."""
    # Without a session cookie nobody is signed in: no need to ask the auth machinery.
    if settings.SESSION_COOKIE_NAME in request.COOKIES and request.user.is_authenticated:
        response = render_page()
        response["Cache-Control"] = "private, no-cache"
        return response
    etag = f'"{hashlib.sha256(key.encode()).hexdigest()[:24]}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={_max_age()}"}
    if _etag_matches(request, etag):
        not_modified = HttpResponseNotModified()
        for name, value in headers.items():
            not_modified[name] = value
        return not_modified
    cache_key = f"lb:page:{PAGE_VERSION}:{key}"
    body = cache.get(cache_key)
    if body is None:
        response = render_page()
        if response.status_code != 200:
            return response
        cache.set(cache_key, response.content, timeout=60 * 60)
    else:
        response = HttpResponse(body)
    for name, value in headers.items():
        response[name] = value
    return response


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    version = leaderboard_index_version()
    return _public_page(
        request,
        key=f"index:{version.key}",
        render_page=lambda: render(
            request, "leaderboards/index.html", {"summaries": leaderboard_index(version=version)}
        ),
    )


@require_GET
def board(request: HttpRequest, domain_slug: str, board_key: str = OVERALL_KEY) -> HttpResponse:
    version = published_version(domain_slug=domain_slug)
    if version is None:
        raise Http404("No published leaderboard for this domain")

    def render_page() -> HttpResponse:
        # Exactly the snapshot the key names, whatever the pointer says by now.
        view = board_view(domain_slug=domain_slug, board_key=board_key, version=version)
        if view is None:
            raise Http404("No such leaderboard")
        return render(
            request,
            "leaderboards/board.html",
            {
                "view": view,
                "api_url": reverse("api-leaderboard-board", args=[domain_slug, board_key]),
                "ratings_file_url": reverse(
                    "leaderboards:ratings-file", args=[domain_slug, view.snapshot.id]
                )
                if public_ratings_file_exists(snapshot_id=view.snapshot.id)
                else None,
                "seasons": domain_seasons(domain_slug=domain_slug),
                "min_ratings_per_model": view.snapshot.config["ranking"]["min_ratings"],
                "few_ratings": view.snapshot.config["few_ratings"],
            },
        )

    return _public_page(request, key=f"board:{version.key}:{board_key}", render_page=render_page)


@require_GET
def season_board(
    request: HttpRequest, domain_slug: str, season: str, board_key: str = OVERALL_KEY
) -> HttpResponse:
    """A board as last published for one season (prompt set version) of the domain."""
    version = season_version(domain_slug=domain_slug, season=season)
    if version is None:
        raise Http404("No published season of this name")

    def render_page() -> HttpResponse:
        view = board_view(domain_slug=domain_slug, board_key=board_key, version=version)
        if view is None:
            raise Http404("No such leaderboard")
        seasons = domain_seasons(domain_slug=domain_slug)
        return render(
            request,
            "leaderboards/board.html",
            {
                "view": view,
                "season": next((link for link in seasons if link.version == season), None),
                "seasons": seasons,
                "api_url": reverse(
                    "api-leaderboard-season-board", args=[domain_slug, season, board_key]
                ),
                "ratings_file_url": reverse(
                    "leaderboards:ratings-file", args=[domain_slug, view.snapshot.id]
                )
                if public_ratings_file_exists(snapshot_id=view.snapshot.id)
                else None,
                "min_ratings_per_model": view.snapshot.config["ranking"]["min_ratings"],
                "few_ratings": view.snapshot.config["few_ratings"],
            },
        )

    # Which season is current shows on the page: a moved public pointer renders it anew.
    current = published_version(domain_slug=domain_slug)
    key = f"season:{season}:{version.key}:{current.key if current else '-'}:{board_key}"
    return _public_page(request, key=key, render_page=render_page)


@require_GET
def model(request: HttpRequest, pk: int) -> HttpResponse:
    view = model_view(model_version_id=pk)
    if view is None:
        raise Http404("This model is not on a public leaderboard")
    return _public_page(
        request,
        key=f"model:{pk}:{view.history_key}",
        render_page=lambda: render(request, "leaderboards/model.html", {"view": view}),
    )


def _svg_response(svg: str, etag: str) -> HttpResponse:
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Security-Policy"] = SVG_CSP
    response["Cache-Control"] = f"public, max-age={_max_age()}"
    response["ETag"] = etag
    return response


@require_GET
def model_history_chart(request: HttpRequest, pk: int) -> HttpResponse:
    view = model_view(model_version_id=pk)
    if view is None:
        raise Http404("This model is not on a public leaderboard")
    etag = f'"history-{hashlib.sha256(view.history_key.encode()).hexdigest()[:24]}"'
    if _etag_matches(request, etag):
        return HttpResponseNotModified()
    cache_key = f"lb:history:{pk}:{etag}"
    svg = cache.get(cache_key)
    if svg is None:
        # matplotlib loads with the first chart a process draws, not with the site.
        from leaderboards.charts import HistorySeries, history_svg

        svg = history_svg(
            [
                HistorySeries(
                    label=domain,
                    dates=[point.created_at for point in points],
                    elo=[point.elo for point in points],
                    lower=[point.lower for point in points],
                    upper=[point.upper for point in points],
                )
                for domain, points in sorted(view.history.items())
            ]
        )
        cache.set(cache_key, svg, timeout=60 * 60)
    return _svg_response(svg, etag)


@require_GET
def board_chart(request: HttpRequest, board_id: int, kind: str) -> HttpResponse:
    if kind not in SnapshotChart.Kind.values:
        raise Http404("No such chart")
    # A board's chart never changes: the board id and kind name it for good.
    etag = f'"chart-{board_id}-{kind}"'
    svg = public_chart_svg(board_id=board_id, kind=kind)
    if svg is None:
        chart_board = public_chart_board(board_id=board_id)
        if chart_board is None:
            raise Http404("No such chart")
        try:
            svg = snapshot_chart_ensure(board=chart_board, kind=kind)
        except ApplicationError as exc:
            raise Http404(exc.message) from exc
    if _etag_matches(request, etag):
        return HttpResponseNotModified()
    return _svg_response(svg, etag)


@require_GET
def ratings_file(request: HttpRequest, domain_slug: str, snapshot_id: int) -> HttpResponse:
    """The anonymised ratings file of a published, visible snapshot: gzip JSON Lines, no text."""
    found = public_ratings_file(domain_slug=domain_slug, snapshot_id=snapshot_id)
    if found is None:
        raise Http404("No ratings file for this snapshot")
    # The file never changes: its hash names it.
    etag = f'"ratings-{found.sha256[:32]}"'
    if _etag_matches(request, etag):
        return HttpResponseNotModified()
    response = HttpResponse(bytes(found.content), content_type="application/gzip")
    response["Content-Disposition"] = (
        f'attachment; filename="seal-{domain_slug}-snapshot-{snapshot_id}-ratings.jsonl.gz"'
    )
    response["Cache-Control"] = f"public, max-age={_max_age()}"
    response["ETag"] = etag
    response["X-Content-SHA256"] = found.sha256
    return response


@require_GET
def methodology(request: HttpRequest) -> HttpResponse:
    def render_page() -> HttpResponse:
        samples = [
            {"prompt": sample, "html": prompt_html(sample.text)}
            for sample in public_sample_prompts()
        ]
        from leaderboards.stats import RankingConfig

        return render(
            request,
            "leaderboards/methodology.html",
            {
                "samples": samples,
                "replicas": settings.SEAL_LEADERBOARD_REPLICAS,
                "min_ratings_per_model": settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_MODEL,
                "min_ratings_per_board": settings.SEAL_LEADERBOARD_MIN_RATINGS_PER_BOARD,
                "few_ratings": settings.SEAL_LEADERBOARD_FEW_RATINGS,
                "prior_sd": round(RankingConfig().prior_sd),
            },
        )

    # Sample prompts can be edited by staff at any time; a short-lived page is good enough.
    period = int(time.time() // max(1, _max_age()))
    return _public_page(request, key=f"methodology:{period}", render_page=render_page)
