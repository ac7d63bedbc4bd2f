"""The public leaderboard pages: no login, server-rendered, served from the published snapshot.

A published snapshot never changes (database triggers hold it), so an anonymous visitor's page is
rendered once per publication and cached under the snapshot id and publication time of the
pointer; in production each process remembers the pointer and the rendered page until PostgreSQL
notifies a change (leaderboards/public_cache.py), elsewhere the pointer is read per request.
Signed-in users get the page rendered for them (the header names them). Charts are matplotlib SVG
served as images with their own content type and a locked-down CSP.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET
from rest_framework.exceptions import NotFound, ValidationError

from leaderboards import public_cache
from leaderboards.apis import (
    BOARD_KEY,
    NothingToCompare,
    diff_arguments,
    query_date,
    query_int,
    request_is_staff,
    snapshot_urls,
)
from leaderboards.models import OVERALL_KEY, SnapshotChart
from leaderboards.selectors import (
    CHANGELOG_PAGE,
    board_view,
    changelog,
    changelog_size,
    domain_seasons,
    history_domain,
    history_version,
    leaderboard_index,
    leaderboard_index_version,
    model_view,
    public_chart_board,
    public_chart_svg,
    public_ratings_file,
    public_ratings_file_exists,
    public_ratings_file_source_exists,
    public_sample_prompts,
    published_version,
    season_version,
    snapshot_board_view,
    snapshot_citation,
    snapshot_diff,
    snapshot_download_boards,
    snapshot_history,
    snapshot_on_date,
    snapshot_summary,
)
from leaderboards.services import snapshot_chart_ensure, snapshot_ratings_file_ensure
from seal.errors import ApplicationError
from seal.rendering import prompt_html

# Bump when the templates change, so cached pages of an unchanged snapshot are drawn anew.
PAGE_VERSION = "3"
# Bump when the download columns change.
DOWNLOAD_VERSION = "1"
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
    body = public_cache.body(cache_key, lambda: cache.get(cache_key))
    if body is None:
        response = render_page()
        if response.status_code != 200:
            return response
        cache.set(cache_key, response.content, timeout=60 * 60)
        public_cache.body_keep(cache_key, response.content)
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
    if found is None and public_ratings_file_source_exists(
        domain_slug=domain_slug, snapshot_id=snapshot_id
    ):
        # Formatted from what publishing kept, once; every later download reads it.
        found = snapshot_ratings_file_ensure(snapshot_id=snapshot_id)
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


# --- Snapshot history: pages of every visible snapshot, diffs, the changelog, downloads ---------


def _bad_request(message: str) -> HttpResponse:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _staff_page(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-cache"
    return response


@require_GET
def snapshots(request: HttpRequest, domain_slug: str) -> HttpResponse:
    """The domain's changelog (every visible snapshot); `?date=` opens the one public that day."""
    try:
        day = query_date(request.GET.get("date"))
        page = query_int(request.GET.get("page"), "page") or 1
    except ValidationError as exc:
        return _bad_request(_first_error(exc))
    domain = history_domain(domain_slug=domain_slug)
    if domain is None:
        raise Http404("No such domain")
    staff = request_is_staff(request)
    if day is not None:
        found = snapshot_on_date(domain_slug=domain_slug, day=day, include_hidden=staff)
        if found is None:
            raise Http404("No snapshot of this domain was public on that date")
        return redirect("leaderboards:snapshot", domain_slug, found.id)
    total = changelog_size(domain_slug=domain_slug)
    pages = max(1, -(-total // CHANGELOG_PAGE))
    if page > pages:
        raise Http404("No such page")

    def render_page() -> HttpResponse:
        items = changelog(
            domain_slug=domain_slug, limit=CHANGELOG_PAGE, offset=(page - 1) * CHANGELOG_PAGE
        )
        everything = snapshot_history(domain_slug=domain_slug, include_hidden=staff)
        hidden = [summary for summary in everything if summary.is_hidden]
        return render(
            request,
            "leaderboards/snapshots.html",
            {
                "domain": domain,
                "items": items,
                "hidden": hidden,
                "page": page,
                "pages": pages,
                "total": total,
                "api_url": reverse("api-leaderboard-snapshots", args=[domain_slug]),
            },
        )

    version = history_version(domain_slug=domain_slug)
    return _public_page(
        request, key=f"snapshots:{domain_slug}:{version}:{page}", render_page=render_page
    )


def _first_error(exc: ValidationError) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        field, messages = next(iter(detail.items()))
        return f"{field}: {messages[0] if isinstance(messages, list) else messages}"
    return str(detail)


@require_GET
def snapshot(
    request: HttpRequest, domain_slug: str, snapshot_id: int, board_key: str = OVERALL_KEY
) -> HttpResponse:
    """A board of any visible snapshot, on the board page's template, with its citation."""
    staff = request_is_staff(request)
    summary = snapshot_summary(
        domain_slug=domain_slug, snapshot_id=snapshot_id, include_hidden=staff
    )
    if summary is None:
        raise Http404("No such snapshot")
    current = published_version(domain_slug=domain_slug)
    is_current = current is not None and current.snapshot_id == summary.id
    links = snapshot_urls(domain_slug, summary.id, board_key)
    page_url = request.build_absolute_uri(snapshot_urls(domain_slug, summary.id)["page"])

    def render_page() -> HttpResponse:
        view = snapshot_board_view(
            domain_slug=domain_slug,
            snapshot_id=summary.id,
            board_key=board_key,
            include_hidden=staff,
        )
        if view is None:
            raise Http404("No such board")
        return render(
            request,
            "leaderboards/board.html",
            {
                "view": view,
                "archive": {
                    "summary": summary,
                    "is_current": is_current,
                    "citation": snapshot_citation(
                        domain=view.domain, snapshot=summary, url=page_url
                    ),
                    "links": links,
                },
                "api_url": links["api"],
                "min_ratings_per_model": view.snapshot.config["ranking"]["min_ratings"],
                "few_ratings": view.snapshot.config["few_ratings"],
            },
        )

    if summary.is_hidden:
        return _staff_page(render_page())
    # Whether it is the public one now, and the host (in the citation), are part of the page.
    key = f"snapshot:{summary.id}:{summary.fingerprint[:16]}:{board_key}:{is_current}:"
    key += request.get_host()
    return _public_page(request, key=key, render_page=render_page)


@require_GET
def snapshot_download(
    request: HttpRequest, domain_slug: str, snapshot_id: int, fmt: str
) -> HttpResponse:
    """Every board of a snapshot (or `?board=`) as CSV or Parquet: the boards' public rows."""
    from leaderboards.downloads import FORMATS, boards_file

    if fmt not in FORMATS:
        raise Http404("No such format")
    board_key = request.GET.get("board") or None
    if board_key is not None and not BOARD_KEY.match(board_key):
        return _bad_request('board: expected "overall" or a category slug.')
    staff = request_is_staff(request)
    summary = snapshot_summary(
        domain_slug=domain_slug, snapshot_id=snapshot_id, include_hidden=staff
    )
    if summary is None:
        raise Http404("No such snapshot")
    etag = f'"download-{summary.id}-{summary.fingerprint[:16]}-{board_key or "all"}-{fmt}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache"
        if summary.is_hidden
        else f"public, max-age={_max_age()}",
    }
    if not summary.is_hidden and _etag_matches(request, etag):
        return HttpResponseNotModified(headers=headers)
    cache_key = f"lb:download:{DOWNLOAD_VERSION}:{etag}"
    body = None if summary.is_hidden else cache.get(cache_key)
    if body is None:
        boards = snapshot_download_boards(
            domain_slug=domain_slug,
            snapshot_id=summary.id,
            board_key=board_key,
            include_hidden=staff,
        )
        if boards is None:
            raise Http404("No such board")
        # pandas and pyarrow load here, with the first Parquet file a process builds.
        body = boards_file(boards, fmt)
        if not summary.is_hidden:
            cache.set(cache_key, body, timeout=60 * 60)
    name = f"seal-{domain_slug}-snapshot-{summary.id}-{board_key or 'all-boards'}.{fmt}"
    response = HttpResponse(body, content_type=FORMATS[fmt], headers=headers)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
def diff(request: HttpRequest, domain_slug: str) -> HttpResponse:
    """Rank and Elo moves between two snapshots of a domain on one board."""
    staff = request_is_staff(request)
    domain = history_domain(domain_slug=domain_slug)
    if domain is None:
        raise Http404("No such domain")
    try:
        before_id, after_id, board_key = diff_arguments(
            domain_slug,
            request.GET.get("from"),
            request.GET.get("to"),
            request.GET.get("board"),
            staff=staff,
        )
    except ValidationError as exc:
        return _bad_request(_first_error(exc))
    except NothingToCompare as exc:
        # A page linked from every board: with one snapshot so far it says so, not 404.
        response = render(
            request, "leaderboards/diff.html", {"domain": domain, "nothing": str(exc.detail)}
        )
        return _staff_page(response) if staff else response
    except NotFound as exc:
        raise Http404(str(exc.detail)) from exc
    result = snapshot_diff(
        domain_slug=domain_slug,
        before_id=before_id,
        after_id=after_id,
        board_key=board_key,
        include_hidden=staff,
    )
    if result is None:
        raise Http404("No such snapshots or board")

    def render_page() -> HttpResponse:
        return render(
            request,
            "leaderboards/diff.html",
            {
                "diff": result,
                "api_url": reverse("api-leaderboard-diff", args=[domain_slug])
                + f"?from={before_id}&to={after_id}&board={board_key}",
            },
        )

    if result.before.is_hidden or result.after.is_hidden:
        return _staff_page(render_page())
    key = f"diff:{result.before.id}:{result.before.fingerprint[:12]}:{result.after.id}:"
    key += f"{result.after.fingerprint[:12]}:{board_key}"
    return _public_page(request, key=key, render_page=render_page)
