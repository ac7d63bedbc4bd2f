"""Leaderboard JSON: the public read API (no key) and a lab's own results (API key).

The public endpoints serve the published snapshot of each domain with HTTP caching: the snapshot
id and fingerprint are the ETag (a conditional request gets 304) and responses may be cached
publicly for SEAL_LEADERBOARD_CACHE_SECONDS. The lab endpoint lists only the key's own models.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboards import public_cache
from leaderboards.models import OVERALL_KEY
from leaderboards.selectors import (
    CHANGELOG_PAGE,
    LAB_LINE,
    LINE_FIELDS,
    BoardLink,
    BoardView,
    ChangelogItem,
    DiffStatus,
    LabResult,
    PublishedVersion,
    SnapshotSummary,
    board_stored,
    board_view,
    changelog,
    changelog_size,
    domain_seasons,
    history_domain,
    history_version,
    lab_results,
    leaderboard_index,
    leaderboard_index_version,
    model_view,
    public_domain_exists,
    published_version,
    season_version,
    snapshot_board_view,
    snapshot_citation,
    snapshot_diff,
    snapshot_history,
    snapshot_on_date,
    snapshot_summary,
)
from seal.apis import LabApi
from seal.rest import error_responses, list_error_responses

PUBLIC_ERRORS = error_responses(404)
# Bump when the JSON shape changes, so cached bodies of an unchanged snapshot are rebuilt.
BODY_VERSION = "2"


_SCALAR_FIELDS: dict[type, type[serializers.Field]] = {
    int: serializers.IntegerField,
    float: serializers.FloatField,
    str: serializers.CharField,
    bool: serializers.BooleanField,
}
S = TypeVar("S", bound=type[serializers.Serializer])


def line_fields(
    *names: str,
    after: str | None = None,
    source: str | None = None,
    help_text: dict[str, str] | None = None,
) -> Callable[[S], S]:
    """Give a serializer the board line's fields `names` (every scalar one if none), typed,
    nullable and described as EntryRow declares them, placed after its own field `after` (first
    if None). `source`: the attribute holding the line; `help_text`: the only descriptions, if
    given (a lab's results describe fewer fields than the public board)."""
    declared = {line.name: line for line in LINE_FIELDS}
    chosen = [declared[name] for name in names] if names else list(LINE_FIELDS)

    def decorate(serializer: S) -> S:
        generated: dict[str, serializers.Field] = {}
        for line in chosen:
            options: dict[str, Any] = {}
            if line.nullable:
                options["allow_null"] = True
            text = line.help if help_text is None else help_text.get(line.name, "")
            if text:
                options["help_text"] = text
            if source:
                options["source"] = f"{source}.{line.name}"
            generated[line.name] = _SCALAR_FIELDS[line.kind](**options)
        own = list(serializer._declared_fields.items())
        at = 0 if after is None else [name for name, _ in own].index(after) + 1
        serializer._declared_fields = {**dict(own[:at]), **generated, **dict(own[at:])}
        return serializer

    return decorate


def public_schema(*, ok: Any, bad_query: bool = False, **schema: Any) -> Callable[[Any], Any]:
    """The OpenAPI description of a public leaderboard read: no auth, cacheable (304), and 404
    (with `bad_query`, also 400 for a malformed query parameter)."""
    errors = error_responses(400, 404) if bad_query else PUBLIC_ERRORS
    return extend_schema(
        **schema,
        responses={200: ok, 304: OpenApiResponse(description="Not modified"), **errors},
        auth=[],
        tags=["leaderboards"],
    )


def _board_url(domain_slug: str, link: BoardLink, season: str | None = None) -> str:
    if season is not None:
        return reverse("api-leaderboard-season-board", args=[domain_slug, season, link.key])
    return reverse("api-leaderboard-board", args=[domain_slug, link.key])


# --- Serializers (output only) -------------------------------------------------------------------


@extend_schema_serializer(component_name="LeaderboardSnapshot")
class SnapshotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    fingerprint = serializers.CharField(help_text="SHA-256 of the aggregated input and config")
    created_at = serializers.DateTimeField()
    published_at = serializers.DateTimeField()
    ratings_through = serializers.DateTimeField(
        allow_null=True, help_text="Latest final approval counted"
    )
    n_ratings = serializers.IntegerField()
    n_prompts = serializers.IntegerField(help_text="Prompts rated (their text stays private)")
    n_models = serializers.IntegerField()
    agreement_alpha = serializers.FloatField(
        allow_null=True, help_text="Krippendorff's alpha on the 5-point preference"
    )
    agreement_units = serializers.IntegerField(allow_null=True)
    config = serializers.DictField(help_text="Engine parameters, thresholds and versions")


@extend_schema_serializer(component_name="LeaderboardBoardLink")
class BoardLinkSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='"overall" or the category slug')
    title = serializers.CharField()
    facet = serializers.CharField(help_text="Category facet; empty for the overall board")
    status = serializers.ChoiceField(choices=["ranked", "insufficient", "disconnected"])
    status_detail = serializers.CharField()
    n_ratings = serializers.IntegerField()
    n_models = serializers.IntegerField()
    url = serializers.SerializerMethodField()

    def get_url(self, link: BoardLink) -> str:
        snapshot_id = self.context.get("snapshot_id")
        if snapshot_id is not None:
            return reverse(
                "api-leaderboard-snapshot-board",
                args=[self.context["domain_slug"], snapshot_id, link.key],
            )
        return _board_url(self.context["domain_slug"], link, self.context.get("season"))


@extend_schema_serializer(component_name="FindingScore")
class FindingScoreSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Rubric dimension key")
    label = serializers.CharField(help_text="Rubric dimension label")  # type: ignore[assignment]  # the JSON key is "label"
    mean = serializers.FloatField(allow_null=True, help_text="Mean score of the model's answers")
    lower = serializers.FloatField(allow_null=True, help_text="95% interval (prompt bootstrap)")
    upper = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField(help_text="Scores given (ratings approved with scores)")


@extend_schema_serializer(component_name="FindingTag")
class FindingTagSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Issue tag key")
    label = serializers.CharField(help_text="Issue tag label from the rubric")  # type: ignore[assignment]  # the JSON key is "label"
    rate = serializers.FloatField(
        allow_null=True, help_text="Share of the model's rated answers that carry the tag"
    )
    lower = serializers.FloatField(allow_null=True, help_text="95% interval (prompt bootstrap)")
    upper = serializers.FloatField(allow_null=True)
    count = serializers.IntegerField(help_text="Rated answers carrying the tag")


@extend_schema_serializer(component_name="FindingStanding")
class FindingStandingSerializer(serializers.Serializer):
    difference = serializers.FloatField(
        allow_null=True,
        help_text="Category Elo minus overall Elo, each centred on the models ranked on both",
    )
    lower = serializers.FloatField(allow_null=True, help_text="95% interval")
    upper = serializers.FloatField(allow_null=True)
    mark = serializers.ChoiceField(
        choices=["strength", "weakness"],
        allow_null=True,
        help_text="Set only where the interval excludes zero",
    )


@extend_schema_serializer(component_name="Findings")
class FindingsSerializer(serializers.Serializer):
    answers = serializers.IntegerField(help_text="The model's rated answers on this board")
    dimensions = FindingScoreSerializer(many=True)
    tags = FindingTagSerializer(many=True)
    vs_overall = FindingStandingSerializer(
        allow_null=True,
        required=False,
        help_text="Category boards: strength or weakness against the model's overall standing",
    )


@extend_schema_serializer(component_name="BoardFindingsDimension")
class BoardDimensionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the JSON key is "label"
    min = serializers.IntegerField(help_text="Scale minimum")
    max = serializers.IntegerField(help_text="Scale maximum")


@extend_schema_serializer(component_name="BoardFindingsTag")
class BoardTagSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the JSON key is "label"


@extend_schema_serializer(component_name="BoardFindings")
class BoardFindingsSerializer(serializers.Serializer):
    answers = serializers.IntegerField(help_text="Rated answers on this board, all models")
    dimensions = BoardDimensionSerializer(many=True)
    tags = BoardTagSerializer(many=True)
    error_sources = FindingTagSerializer(
        many=True, help_text="Issue tags by rate over all models' rated answers, highest first"
    )
    resample = serializers.CharField(help_text='The bootstrap unit, "prompt"')
    interval = serializers.CharField(help_text='"percentile"')
    replicas = serializers.IntegerField()
    confidence = serializers.FloatField()


@extend_schema_serializer(component_name="LeaderboardEntry")
@line_fields()
class EntrySerializer(serializers.Serializer):
    findings = FindingsSerializer(
        allow_null=True,
        help_text="What experts found: mean rubric scores and issue-tag rates with 95% "
        "intervals; null in snapshots made before these were kept",
    )


@extend_schema_serializer(component_name="LeaderboardWinRates")
class WinRatesSerializer(serializers.Serializer):
    models = serializers.ListField(
        child=serializers.IntegerField(), help_text="Model version ids, in rank order"
    )
    empirical = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="[row][column]: share of points the row model took from the column model",
    )
    predicted = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="[row][column]: fitted probability that the row model wins",
    )


@extend_schema_serializer(component_name="LeaderboardAnchor")
class AnchorSerializer(serializers.Serializer):
    shift = serializers.FloatField(help_text="Elo points added to every value of the board")
    models = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Model version ids ranked both here and in the anchoring snapshot",
    )
    reference_mean = serializers.FloatField(
        allow_null=True, help_text="Their mean Elo there, which they keep here"
    )
    snapshot = serializers.IntegerField(
        allow_null=True, help_text="The snapshot anchored to; null: centred at 1000"
    )


@extend_schema_serializer(component_name="LeaderboardStyleCoefficient")
class StyleCoefficientSerializer(serializers.Serializer):
    feature = serializers.ChoiceField(
        choices=["length", "headers", "lists", "bold", "code_blocks"],
        help_text="Length in tokens, Markdown headers, list items, bold spans, code blocks",
    )
    title = serializers.CharField(source="label", help_text="How the page names it")
    coefficient = serializers.FloatField(
        allow_null=True,
        help_text="Change in log-odds of winning per root-mean-square normalised difference; "
        "null when the answers on this board never differ in it",
    )
    lower = serializers.FloatField(allow_null=True, help_text="95% interval, lower end")
    upper = serializers.FloatField(allow_null=True, help_text="95% interval, upper end")
    elo = serializers.FloatField(allow_null=True, help_text="The coefficient in Elo points")
    elo_lower = serializers.FloatField(allow_null=True)
    elo_upper = serializers.FloatField(allow_null=True)
    scale = serializers.FloatField(
        allow_null=True,
        help_text="Root mean square of the normalised difference (a - b) / (a + b) on the board",
    )


@extend_schema_serializer(component_name="LeaderboardStyleControl")
class StyleControlSerializer(serializers.Serializer):
    method = serializers.CharField()
    features = serializers.ListField(child=serializers.CharField())
    normalisation = serializers.CharField()
    coefficients = StyleCoefficientSerializer(many=True)
    n_ratings = serializers.IntegerField(help_text="Ratings between the board's ranked models")
    n_ratings_without_style = serializers.IntegerField(
        help_text="Of those, ratings left out because an answer's style was not stored"
    )
    replicas = serializers.IntegerField(help_text="Prompt-bootstrap replicas (the board's own)")
    bootstrap = serializers.CharField()


@extend_schema_serializer(component_name="LeaderboardDomain")
class DomainSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    numeric = serializers.BooleanField(help_text="Answers are auto-graded: accuracy is shown")


@extend_schema_serializer(component_name="LeaderboardBoard")
class BoardSerializer(serializers.Serializer):
    domain = DomainSerializer()
    snapshot = SnapshotSerializer()
    board = BoardLinkSerializer()
    separability = serializers.FloatField(
        allow_null=True, help_text="Share of model pairs whose intervals do not overlap"
    )
    n_prompts = serializers.IntegerField()
    entries = EntrySerializer(many=True)
    win_rates = WinRatesSerializer()
    anchor = AnchorSerializer(allow_null=True)
    style_control = StyleControlSerializer(
        allow_null=True,
        help_text="The style-controlled view's coefficients (per-model numbers are in entries); "
        "null when the board has none",
    )
    findings = BoardFindingsSerializer(
        allow_null=True, help_text="The board's rubric, issue tags and main error sources"
    )
    boards = BoardLinkSerializer(many=True)


@extend_schema_serializer(component_name="LeaderboardSummary")
class SummarySerializer(serializers.Serializer):
    domain = DomainSerializer()
    snapshot = SnapshotSerializer(allow_null=True)
    top = EntrySerializer(many=True)
    boards = BoardLinkSerializer(many=True)
    url = serializers.CharField()


@extend_schema_serializer(component_name="LeaderboardIndex")
class IndexSerializer(serializers.Serializer):
    domains = SummarySerializer(many=True)


@extend_schema_serializer(component_name="LeaderboardHistoryPoint")
@line_fields("rank", "rank_with_uncertainty", after="upper", help_text={})
class HistoryPointSerializer(serializers.Serializer):
    snapshot_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    # Never null in a history point (a point needs its Elo and interval), unlike a line's.
    elo = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()


@extend_schema_serializer(component_name="LeaderboardStanding")
class StandingSerializer(serializers.Serializer):
    domain = serializers.CharField(source="domain.slug")
    snapshot_id = serializers.IntegerField()
    published_at = serializers.DateTimeField()
    board = serializers.CharField(source="board.key")
    board_title = serializers.CharField(source="board.title")
    entry = EntrySerializer()


@extend_schema_serializer(component_name="LeaderboardModel")
class ModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    lab = serializers.CharField()
    standings = StandingSerializer(many=True)
    history = serializers.DictField(
        child=HistoryPointSerializer(many=True),
        help_text="Overall-board Elo per domain name, across visible snapshots, oldest first",
    )


# --- Public endpoints ----------------------------------------------------------------------------


class PublicLeaderboardApi(APIView):
    """Public, read-only, cacheable: no authentication, no session, no CSRF."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    throttle_classes: list[Any] = []
    metadata_class = None

    def body_name(self, request: HttpRequest, **kwargs: Any) -> tuple[str, str] | None:
        """(ETag, cache key part) of the public body a GET would serve now, if one query or
        none can tell; None sends the request the whole way through DRF."""
        return None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The hot path: a body already rendered for the current ETag is served before DRF wraps
        # the request, negotiates content and renders (most of a cached request's time). What
        # it serves is byte for byte what the DRF path serves, with the same headers.
        if request.method == "GET":
            named = self.body_name(request, **kwargs)
            if named is not None:
                response = self._cache_hit(request, *named)
                if response is not None:
                    response["Allow"] = ", ".join(self.allowed_methods)
                    return response
        return super().dispatch(request, *args, **kwargs)

    def _headers(self, etag: str) -> dict[str, str]:
        return {
            "ETag": etag,
            "Cache-Control": f"public, max-age={int(settings.SEAL_LEADERBOARD_CACHE_SECONDS)}",
        }

    def _cache_key(self, etag: str, key_extra: str) -> str:
        return f"lb:json:{BODY_VERSION}:{type(self).__name__}:{etag}:{key_extra}"

    def _cache_hit(self, request: HttpRequest, etag: str, key_extra: str) -> HttpResponse | None:
        """304 if the caller has the body, the cached bytes if rendered already, else None."""
        wanted = request.headers.get("If-None-Match", "")
        if any(tag.strip().removeprefix("W/") == etag for tag in wanted.split(",")):
            not_modified = HttpResponse(status=304, headers=self._headers(etag))
            del not_modified["Content-Type"]  # no body, no type: as DRF answered before
            return not_modified
        key = self._cache_key(etag, key_extra)
        body = public_cache.body(key, lambda: cache.get(key))
        if body is None:
            return None
        return HttpResponse(body, content_type="application/json", headers=self._headers(etag))

    def cached(
        self, request: Request, *, etag: str, build: Callable[[], Any], key_extra: str = ""
    ) -> HttpResponse:
        """Serve the JSON body named by `etag`: 304 if the caller has it, else the cached bytes.

        The body is rendered once per ETag and kept as bytes: a cache hit neither serialises
        nor renders (the board body is ~100 kB of floats, most of a request's time otherwise)."""
        response = self._cache_hit(request._request, etag, key_extra)
        if response is not None:
            return response
        body = JSONRenderer().render(build())
        cache.set(self._cache_key(etag, key_extra), body, timeout=60 * 60)
        public_cache.body_keep(self._cache_key(etag, key_extra), body)
        return HttpResponse(body, content_type="application/json", headers=self._headers(etag))


def _board_body(view: BoardView, season: str | None = None) -> Any:
    context = {"domain_slug": view.domain.slug, "season": season}
    stored = board_stored(board_id=view.board.id)
    return BoardSerializer(
        {
            "domain": view.domain,
            "snapshot": view.snapshot,
            "board": view.board,
            "separability": view.separability,
            "n_prompts": view.n_prompts,
            "entries": view.entries,
            "win_rates": stored["win_rates"],
            "anchor": stored["anchor"],
            "style_control": view.style,
            "findings": view.findings,
            "boards": view.boards,
        },
        context=context,
    ).data


class LeaderboardIndexApi(PublicLeaderboardApi):
    def body_name(self, request: HttpRequest, **kwargs: Any) -> tuple[str, str] | None:
        return f'"index-{leaderboard_index_version().key}"', ""

    @extend_schema(
        operation_id="leaderboards_list",
        summary="Every domain's published leaderboard: snapshot, leaders, boards",
        responses={200: IndexSerializer, 304: OpenApiResponse(description="Not modified")},
        auth=[],
        tags=["leaderboards"],
    )
    def get(self, request: Request) -> HttpResponse:
        version = leaderboard_index_version()

        def build() -> Any:
            summaries = leaderboard_index(version=version)
            return {
                "domains": [
                    SummarySerializer(
                        {
                            "domain": summary.domain,
                            "snapshot": summary.snapshot,
                            "top": summary.top,
                            "boards": summary.boards,
                            "url": reverse(
                                "api-leaderboard-board", args=[summary.domain.slug, OVERALL_KEY]
                            ),
                        },
                        context={"domain_slug": summary.domain.slug},
                    ).data
                    for summary in summaries
                ]
            }

        return self.cached(request, etag=f'"index-{version.key}"', build=build)


class LeaderboardBoardApi(PublicLeaderboardApi):
    def body_name(self, request: HttpRequest, **kwargs: Any) -> tuple[str, str] | None:
        version = published_version(domain_slug=kwargs["domain_slug"])
        if version is None:
            return None
        return self._etag(version, kwargs.get("board_key", OVERALL_KEY)), ""

    def _etag(self, version: PublishedVersion, board_key: str) -> str:
        return f'"{version.key}-{board_key}"'

    @public_schema(
        operation_id="leaderboards_board_retrieve",
        summary="One published board: the domain overall, or a category ('overall' or its slug)",
        ok=BoardSerializer,
    )
    def get(self, request: Request, domain_slug: str, board_key: str = OVERALL_KEY) -> HttpResponse:
        version = published_version(domain_slug=domain_slug)
        if version is None:
            raise NotFound("No published leaderboard for this domain.")

        def build() -> Any:
            # Exactly the snapshot the ETag names, whatever the pointer says by now.
            view = board_view(domain_slug=domain_slug, board_key=board_key, version=version)
            if view is None:
                raise NotFound("No such board.")
            return _board_body(view)

        return self.cached(request, etag=self._etag(version, board_key), build=build)


class LeaderboardDomainApi(LeaderboardBoardApi):
    def body_name(self, request: HttpRequest, **kwargs: Any) -> tuple[str, str] | None:
        return super().body_name(request, domain_slug=kwargs["domain_slug"])

    @public_schema(
        operation_id="leaderboards_domain_retrieve",
        summary="A domain's published overall board (the same as its board 'overall')",
        ok=BoardSerializer,
    )
    def get(self, request: Request, domain_slug: str, board_key: str = OVERALL_KEY) -> HttpResponse:
        return super().get(request, domain_slug, OVERALL_KEY)


@extend_schema_serializer(component_name="LeaderboardSeason")
class SeasonSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="The prompt set version the season's boards use")
    status = serializers.ChoiceField(
        choices=["draft", "active", "retired"], help_text="The prompt set's status now"
    )
    is_current = serializers.BooleanField(help_text="The season the public boards show now")
    snapshot_id = serializers.IntegerField(help_text="The season's latest published snapshot")
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()

    def get_url(self, link: Any) -> str:
        return reverse(
            "api-leaderboard-season-board",
            args=[self.context["domain_slug"], link.version, OVERALL_KEY],
        )


@extend_schema_serializer(component_name="LeaderboardSeasons")
class SeasonListSerializer(serializers.Serializer):
    domain = serializers.CharField()
    seasons = SeasonSerializer(many=True)


class LeaderboardSeasonListApi(PublicLeaderboardApi):
    @public_schema(
        operation_id="leaderboards_seasons_list",
        summary="A domain's seasons: one per prompt set version with a published board",
        ok=SeasonListSerializer,
    )
    def get(self, request: Request, domain_slug: str) -> HttpResponse:
        if not public_domain_exists(domain_slug=domain_slug):
            raise NotFound("No such domain.")
        seasons = domain_seasons(domain_slug=domain_slug)
        key = "|".join(f"{link.version}.{link.snapshot_id}.{link.is_current}" for link in seasons)
        etag = f'"seasons-{domain_slug}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"'
        return self.cached(
            request,
            etag=etag,
            build=lambda: (
                SeasonListSerializer(
                    {"domain": domain_slug, "seasons": seasons},
                    context={"domain_slug": domain_slug},
                ).data
            ),
        )


class LeaderboardSeasonBoardApi(PublicLeaderboardApi):
    @public_schema(
        operation_id="leaderboards_season_board_retrieve",
        summary="One board as last published for a season (prompt set version) of a domain",
        ok=BoardSerializer,
    )
    def get(
        self, request: Request, domain_slug: str, season: str, board_key: str = OVERALL_KEY
    ) -> HttpResponse:
        version = season_version(domain_slug=domain_slug, season=season)
        if version is None:
            raise NotFound("No published season of this name.")

        def build() -> Any:
            view = board_view(domain_slug=domain_slug, board_key=board_key, version=version)
            if view is None:
                raise NotFound("No such board.")
            return _board_body(view, season=season)

        return self.cached(request, etag=f'"season-{version.key}-{board_key}"', build=build)


class LeaderboardModelApi(PublicLeaderboardApi):
    @public_schema(
        operation_id="leaderboards_model_retrieve",
        summary="A model's place on every public board and its Elo history",
        ok=ModelSerializer,
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        view = model_view(model_version_id=pk)
        if view is None:
            raise NotFound("This model is not on a public leaderboard.")
        return self.cached(
            request,
            etag=f'"model-{pk}-{view.history_key}"',
            build=lambda: ModelSerializer(view).data,
        )


# --- Snapshot history: every visible snapshot by id and date, diffs, the changelog ---------------

DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DIFF_STATUSES = list(DiffStatus.ALL)


def query_date(value: str | None, field: str = "date") -> date | None:
    """A YYYY-MM-DD query parameter; a clear 400 naming the field if it is not one."""
    if value is None or value == "":
        return None
    try:
        if not DATE_FORMAT.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError({field: ["Expected a date as YYYY-MM-DD."]}) from None


def query_int(value: str | None, field: str) -> int | None:
    """A positive integer query parameter; a clear 400 naming the field if it is not one."""
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1 or len(value) > 12:
        raise ValidationError({field: ["Expected a snapshot id (a positive integer)."]})
    return int(value)


def request_is_staff(request: HttpRequest) -> bool:
    """A signed-in staff member (Django's session), who may also read hidden snapshots."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False  # nobody is signed in: no need to ask the auth machinery
    # From the session itself: the public API views run without DRF authentication, which
    # leaves an anonymous user on the request.
    user = get_user(request)
    return bool(user.is_authenticated and user.is_staff)


def snapshot_urls(domain_slug: str, snapshot_id: int, board_key: str = OVERALL_KEY) -> dict:
    """Where a snapshot board lives: its page, its JSON, its downloads."""
    if board_key == OVERALL_KEY:
        page = reverse("leaderboards:snapshot", args=[domain_slug, snapshot_id])
        api = reverse("api-leaderboard-snapshot", args=[domain_slug, snapshot_id])
    else:
        page = reverse("leaderboards:snapshot-board", args=[domain_slug, snapshot_id, board_key])
        api = reverse("api-leaderboard-snapshot-board", args=[domain_slug, snapshot_id, board_key])
    download = reverse("leaderboards:snapshot-download", args=[domain_slug, snapshot_id, "csv"])
    parquet = reverse("leaderboards:snapshot-download", args=[domain_slug, snapshot_id, "parquet"])
    return {
        "page": page,
        "api": api,
        "csv": f"{download}?board={board_key}",
        "parquet": f"{parquet}?board={board_key}",
        "csv_all_boards": download,
        "parquet_all_boards": parquet,
        "diff": reverse("leaderboards:diff", args=[domain_slug])
        + f"?to={snapshot_id}&board={board_key}",
    }


@extend_schema_serializer(component_name="LeaderboardSnapshotSummary")
class SnapshotSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField(help_text="When it was computed and published")
    ratings_through = serializers.DateTimeField(
        allow_null=True, help_text="Latest final approval counted"
    )
    n_ratings = serializers.IntegerField()
    n_prompts = serializers.IntegerField()
    n_models = serializers.IntegerField()
    fingerprint = serializers.CharField(help_text="SHA-256 of the aggregated input and config")
    url = serializers.SerializerMethodField(help_text="Its JSON")
    page_url = serializers.SerializerMethodField(help_text="Its page")

    def get_url(self, summary: SnapshotSummary) -> str:
        return reverse("api-leaderboard-snapshot", args=[summary.domain_slug, summary.id])

    def get_page_url(self, summary: SnapshotSummary) -> str:
        return reverse("leaderboards:snapshot", args=[summary.domain_slug, summary.id])


@extend_schema_serializer(component_name="LeaderboardModelRef")
class ModelRefSerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField()
    model = serializers.CharField()
    lab = serializers.CharField()


@extend_schema_serializer(component_name="LeaderboardDiffRow")
class DiffRowSerializer(ModelRefSerializer):
    status = serializers.ChoiceField(
        choices=DIFF_STATUSES,
        help_text="ranked: ranked in both; added / removed: on the board only after / before; "
        "newly_ranked / newly_unranked: on it in both, ranked only after / before; "
        "unranked: on it in both, ranked in neither",
    )
    rank_before = serializers.IntegerField(allow_null=True, help_text="By Elo")
    rank_after = serializers.IntegerField(allow_null=True)
    rank_change = serializers.IntegerField(
        allow_null=True,
        help_text="Places gained by Elo rank (positive: up); null unless ranked in both",
    )
    rank_with_uncertainty_before = serializers.IntegerField(allow_null=True)
    rank_with_uncertainty_after = serializers.IntegerField(allow_null=True)
    rank_with_uncertainty_change = serializers.IntegerField(allow_null=True)
    elo_before = serializers.FloatField(allow_null=True)
    elo_after = serializers.FloatField(allow_null=True)
    elo_change = serializers.FloatField(allow_null=True, help_text="After minus before")


@extend_schema_serializer(component_name="LeaderboardChangelogItem")
class ChangelogItemSerializer(serializers.Serializer):
    snapshot = SnapshotSummarySerializer()
    previous = serializers.IntegerField(
        allow_null=True, source="previous_id", help_text="The visible snapshot before it"
    )
    models_added = ModelRefSerializer(many=True, source="added", help_text="Overall board")
    models_removed = ModelRefSerializer(many=True, source="removed")
    newly_ranked = ModelRefSerializer(many=True)
    biggest_moves = DiffRowSerializer(many=True, help_text="Up to 3 largest Elo changes")
    diff_url = serializers.SerializerMethodField(
        help_text="Its diff against the snapshot before; null for the first"
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_diff_url(self, item: ChangelogItem) -> str | None:
        if item.previous_id is None:
            return None
        return reverse("api-leaderboard-diff", args=[item.domain.slug]) + (
            f"?from={item.previous_id}&to={item.snapshot.id}"
        )


@extend_schema_serializer(component_name="LeaderboardSnapshotList")
class SnapshotListSerializer(serializers.Serializer):
    domain = DomainSerializer()
    count = serializers.IntegerField(help_text="Visible snapshots of the domain in this answer")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    snapshots = ChangelogItemSerializer(many=True, help_text="Newest first")


@extend_schema_serializer(component_name="LeaderboardCitation")
class CitationSerializer(serializers.Serializer):
    key = serializers.CharField()
    bibtex = serializers.CharField()
    text = serializers.CharField()
    url = serializers.CharField(help_text="The snapshot's permanent page")


@extend_schema_serializer(component_name="LeaderboardSnapshotLinks")
class SnapshotLinksSerializer(serializers.Serializer):
    page = serializers.CharField()
    api = serializers.CharField()
    csv = serializers.CharField(help_text="This board as CSV")
    parquet = serializers.CharField(help_text="This board as Parquet")
    csv_all_boards = serializers.CharField()
    parquet_all_boards = serializers.CharField()
    diff = serializers.CharField(help_text="Against the snapshot before it")


@extend_schema_serializer(component_name="LeaderboardSnapshotBoard")
class SnapshotBoardSerializer(BoardSerializer):
    citation = CitationSerializer()
    links = SnapshotLinksSerializer()


@extend_schema_serializer(component_name="LeaderboardDiff")
class DiffSerializer(serializers.Serializer):
    domain = DomainSerializer()
    board = serializers.CharField(source="board_key")
    board_title = serializers.CharField()
    before = SnapshotSummarySerializer()
    after = SnapshotSummarySerializer()
    rows = DiffRowSerializer(many=True, help_text="The board after in its order, then removed")
    added = ModelRefSerializer(many=True)
    removed = ModelRefSerializer(many=True)
    newly_ranked = ModelRefSerializer(many=True)
    newly_unranked = ModelRefSerializer(many=True)


def snapshot_board_body(view: BoardView, *, absolute_page_url: str) -> Any:
    """A snapshot board's JSON: the board body, its citation and its links."""
    summary = SnapshotSummary(
        id=view.snapshot.id,
        domain_slug=view.domain.slug,
        fingerprint=view.snapshot.fingerprint,
        created_at=view.snapshot.created_at,
        ratings_through=view.snapshot.ratings_through,
        n_ratings=view.snapshot.n_ratings,
        n_prompts=view.snapshot.n_prompts,
        n_models=view.snapshot.n_models,
        is_hidden=False,
    )
    stored = board_stored(board_id=view.board.id)
    return SnapshotBoardSerializer(
        {
            "domain": view.domain,
            "snapshot": view.snapshot,
            "board": view.board,
            "separability": view.separability,
            "n_prompts": view.n_prompts,
            "entries": view.entries,
            "win_rates": stored["win_rates"],
            "anchor": stored["anchor"],
            "boards": view.boards,
            "citation": snapshot_citation(
                domain=view.domain, snapshot=summary, url=absolute_page_url
            ),
            "links": snapshot_urls(view.domain.slug, view.snapshot.id, view.board.key),
        },
        context={"domain_slug": view.domain.slug, "snapshot_id": view.snapshot.id},
    ).data


class LeaderboardSnapshotsApi(PublicLeaderboardApi):
    @public_schema(
        operation_id="leaderboards_snapshots_list",
        summary="A domain's published snapshots, newest first, as a changelog",
        description="Each visible snapshot with what changed on the overall board since the one "
        "before it: models added and removed, newly ranked, the biggest Elo moves. With `date`, "
        "only the snapshot that was public at the end of that day (UTC).",
        parameters=[
            OpenApiParameter(
                "date", str, description="YYYY-MM-DD: the snapshot public on that day"
            ),
            OpenApiParameter("page", int, description=f"{CHANGELOG_PAGE} snapshots a page"),
        ],
        ok=SnapshotListSerializer,
        bad_query=True,
    )
    def get(self, request: Request, domain_slug: str) -> HttpResponse:
        day = query_date(request.query_params.get("date"))
        page = query_int(request.query_params.get("page"), "page") or 1
        domain = history_domain(domain_slug=domain_slug)
        if domain is None:
            raise NotFound("No such domain.")
        if day is not None:
            found = snapshot_on_date(domain_slug=domain_slug, day=day)
            if found is None:
                raise NotFound("No snapshot of this domain was public on that date.")
            # The list as it stands holds it; its changelog line is read from there.
            ids = [summary.id for summary in snapshot_history(domain_slug=domain_slug)]
            offset, limit = ids.index(found.id), 1
        else:
            offset, limit = (page - 1) * CHANGELOG_PAGE, CHANGELOG_PAGE

        def build() -> Any:
            total = changelog_size(domain_slug=domain_slug)
            pages = max(1, -(-total // CHANGELOG_PAGE))
            if day is None and page > pages:
                raise NotFound("No such page.")
            items = changelog(domain_slug=domain_slug, limit=limit, offset=offset)
            return SnapshotListSerializer(
                {
                    "domain": domain,
                    "count": len(items) if day is not None else total,
                    "page": 1 if day is not None else page,
                    "pages": 1 if day is not None else pages,
                    "snapshots": items,
                }
            ).data

        version = history_version(domain_slug=domain_slug)
        return self.cached(
            request, etag=f'"snapshots-{domain_slug}-{version}-{offset}-{limit}"', build=build
        )


class LeaderboardSnapshotApi(PublicLeaderboardApi):
    @public_schema(
        operation_id="leaderboards_snapshot_retrieve",
        summary="One published snapshot by id: its overall board, citation and download links",
        ok=SnapshotBoardSerializer,
    )
    def get(
        self, request: Request, domain_slug: str, snapshot_id: int, board_key: str = OVERALL_KEY
    ) -> HttpResponse:
        staff = request_is_staff(request._request)
        summary = snapshot_summary(
            domain_slug=domain_slug, snapshot_id=snapshot_id, include_hidden=staff
        )
        if summary is None:
            raise NotFound("No such snapshot.")
        page_url = request.build_absolute_uri(
            snapshot_urls(domain_slug, snapshot_id, OVERALL_KEY)["page"]
        )

        def build() -> Any:
            view = snapshot_board_view(
                domain_slug=domain_slug,
                snapshot_id=snapshot_id,
                board_key=board_key,
                include_hidden=staff,
            )
            if view is None:
                raise NotFound("No such board.")
            return snapshot_board_body(view, absolute_page_url=page_url)

        if summary.is_hidden:  # staff only: never cached, never stored by a shared cache
            response = HttpResponse(JSONRenderer().render(build()), content_type="application/json")
            response["Cache-Control"] = "private, no-cache"
            return response
        etag, host = self._name(summary, board_key, request._request)
        return self.cached(request, etag=etag, build=build, key_extra=host)

    def body_name(self, request: HttpRequest, **kwargs: Any) -> tuple[str, str] | None:
        summary = snapshot_summary(
            domain_slug=kwargs["domain_slug"], snapshot_id=kwargs["snapshot_id"]
        )
        if summary is None:
            return None  # hidden (staff may read it) or missing: the whole way
        return self._name(summary, kwargs.get("board_key", OVERALL_KEY), request)

    def _name(
        self, summary: SnapshotSummary, board_key: str, request: HttpRequest
    ) -> tuple[str, str]:
        # A snapshot never changes; the host is part of the citation's URL.
        etag = f'"snapshot-{summary.id}-{summary.fingerprint[:16]}-{board_key}"'
        return etag, request.get_host()


class LeaderboardSnapshotBoardApi(LeaderboardSnapshotApi):
    @public_schema(
        operation_id="leaderboards_snapshot_board_retrieve",
        summary="One board of a published snapshot ('overall' or a category slug)",
        ok=SnapshotBoardSerializer,
    )
    def get(
        self, request: Request, domain_slug: str, snapshot_id: int, board_key: str = OVERALL_KEY
    ) -> HttpResponse:
        return super().get(request, domain_slug, snapshot_id, board_key)


class LeaderboardDiffApi(PublicLeaderboardApi):
    @public_schema(
        operation_id="leaderboards_diff_retrieve",
        summary="Rank and Elo moves of every model on one board between two snapshots",
        description="`to` defaults to the latest visible snapshot, `from` to the visible one "
        "before `to`, `board` to overall.",
        parameters=[
            OpenApiParameter("from", int, description="The earlier snapshot id"),
            OpenApiParameter("to", int, description="The later snapshot id"),
            OpenApiParameter("board", str, description='"overall" (default) or a category slug'),
        ],
        ok=DiffSerializer,
        bad_query=True,
    )
    def get(self, request: Request, domain_slug: str) -> HttpResponse:
        staff = request_is_staff(request._request)
        before_id, after_id, board_key = diff_arguments(
            domain_slug,
            request.query_params.get("from"),
            request.query_params.get("to"),
            request.query_params.get("board"),
            staff=staff,
        )
        diff = snapshot_diff(
            domain_slug=domain_slug,
            before_id=before_id,
            after_id=after_id,
            board_key=board_key,
            include_hidden=staff,
        )
        if diff is None:
            raise NotFound("No such snapshots or board.")
        if diff.before.is_hidden or diff.after.is_hidden:
            response = HttpResponse(
                JSONRenderer().render(DiffSerializer(diff).data), content_type="application/json"
            )
            response["Cache-Control"] = "private, no-cache"
            return response
        etag = f'"diff-{diff.before.fingerprint[:12]}-{diff.after.fingerprint[:12]}-{board_key}"'
        return self.cached(request, etag=etag, build=lambda: DiffSerializer(diff).data)


BOARD_KEY = re.compile(r"^[-a-zA-Z0-9_]{1,120}$")


class NothingToCompare(NotFound):
    """The domain has fewer than two visible snapshots up to the one asked for."""

    default_detail = "No earlier snapshot to compare with."


def diff_arguments(
    domain_slug: str, before: str | None, after: str | None, board: str | None, *, staff: bool
) -> tuple[int, int, str]:
    """The two snapshot ids and the board of a diff request, with the documented defaults."""
    before_id = query_int(before, "from")
    after_id = query_int(after, "to")
    board_key = board or OVERALL_KEY
    if not BOARD_KEY.match(board_key):
        raise ValidationError({"board": ['Expected "overall" or a category slug.']})
    history = snapshot_history(domain_slug=domain_slug, include_hidden=staff)
    ids = [summary.id for summary in history]
    if after_id is None:
        if not ids:
            raise NothingToCompare("This domain has no published snapshot.")
        after_id = ids[0]
    if before_id is None:
        if after_id not in ids:
            raise NotFound("No such snapshot.")
        index = ids.index(after_id)
        if index + 1 >= len(ids):
            raise NothingToCompare("No snapshot before this one to compare with.")
        before_id = ids[index + 1]
    return before_id, after_id, board_key


# --- A lab's own results -------------------------------------------------------------------------


@extend_schema_serializer(component_name="LabResult")
@line_fields(
    *LAB_LINE,
    after="published_at",
    source="line",
    help_text={
        "rank_lower": "Rank spread over the bootstrap replicas, best end (2.5%)",
        "rank_upper": "Rank spread over the bootstrap replicas, worst end (97.5%)",
        "style_elo": "Style-controlled Elo",
    },
)
class LabResultSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(source="model_version_id")
    model_version_name = serializers.CharField(source="model_version")
    domain = serializers.CharField()
    board = serializers.CharField(help_text='"overall" or the category slug')
    category = serializers.CharField(allow_null=True)
    snapshot_id = serializers.IntegerField(
        allow_null=True, help_text="The published snapshot; null when not on a public board yet"
    )
    published_at = serializers.DateTimeField(allow_null=True)
    issue_tags = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="How often finally approved ratings tagged this model's own answers",
    )
    findings = FindingsSerializer(
        allow_null=True,
        source="line.findings",
        help_text="From the published snapshot: mean rubric scores and issue-tag rates of "
        "this model's answers with 95% intervals, and (category boards) its strength or "
        "weakness against its overall standing; null when not on a public board",
    )


class LabResultsApi(LabApi):
    # Results are filtered by hand below; no queryset filters to describe.
    filter_backends: list[Any] = []

    @extend_schema(
        operation_id="results_list",
        summary="Your models' published results per domain and category, with issue-tag counts",
        description="Only the key's own lab's model versions. Elo, interval and rank come from "
        "each domain's published snapshot; issue tags count what raters said about your "
        "answers in finally approved ratings. No prompt text, nothing about other labs' answers.",
        parameters=[
            OpenApiParameter("domain", str, description="Only this domain (slug)"),
            OpenApiParameter("model_version", int, description="Only this model version"),
        ],
        responses={200: LabResultSerializer(many=True), **list_error_responses(401, 429)},
        tags=["results"],
    )
    def get(self, request: Request) -> Response:
        results = [] if self.for_schema else lab_results(lab=self.lab)
        domain = request.query_params.get("domain")
        model_version = request.query_params.get("model_version")
        if domain:
            results = [row for row in results if row.domain == domain]
        if model_version:
            results = [row for row in results if str(row.model_version_id) == model_version]
        page: list[LabResult] | None = self.paginate_queryset(results)  # type: ignore[arg-type]
        return self.get_paginated_response(LabResultSerializer(page, many=True).data)
