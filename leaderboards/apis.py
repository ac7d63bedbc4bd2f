"""Leaderboard JSON: the public read API (no key) and a lab's own results (API key).

The public endpoints serve the published snapshot of each domain with HTTP caching: the snapshot
id and fingerprint are the ETag (a conditional request gets 304) and responses may be cached
publicly for SEAL_LEADERBOARD_CACHE_SECONDS. The lab endpoint lists only the key's own models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboards.models import OVERALL_KEY
from leaderboards.selectors import (
    BoardLink,
    BoardView,
    LabResult,
    board_stored,
    board_view,
    domain_seasons,
    lab_results,
    leaderboard_index,
    leaderboard_index_version,
    model_view,
    public_domain_exists,
    published_version,
    season_version,
)
from seal.apis import LabApi
from seal.rest import error_responses, list_error_responses

PUBLIC_ERRORS = error_responses(404)
# Bump when the JSON shape changes, so cached bodies of an unchanged snapshot are rebuilt.
BODY_VERSION = "1"


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
        return _board_url(self.context["domain_slug"], link, self.context.get("season"))


@extend_schema_serializer(component_name="LeaderboardEntry")
class EntrySerializer(serializers.Serializer):
    model_version_id = serializers.IntegerField()
    model = serializers.CharField()
    lab = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True, help_text="By Elo; null when not ranked")
    rank_with_uncertainty = serializers.IntegerField(
        allow_null=True, help_text="1 + models whose interval lies wholly above"
    )
    elo = serializers.FloatField(allow_null=True)
    lower = serializers.FloatField(allow_null=True, help_text="95% interval, lower end")
    upper = serializers.FloatField(allow_null=True, help_text="95% interval, upper end")
    n_ratings = serializers.IntegerField()
    wins = serializers.IntegerField()
    ties = serializers.IntegerField()
    losses = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True, help_text="Auto-graded (math) only")
    accuracy_lower = serializers.FloatField(allow_null=True)
    accuracy_upper = serializers.FloatField(allow_null=True)
    accuracy_n = serializers.IntegerField(allow_null=True)
    contaminated = serializers.BooleanField(
        help_text="The lab had been sent some of this board's prompts before"
    )
    few_ratings = serializers.BooleanField()
    not_ranked_reason = serializers.CharField(
        allow_null=True, help_text='Why the model has no rank, e.g. "no losses yet"; null if ranked'
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
class HistoryPointSerializer(serializers.Serializer):
    snapshot_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    elo = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()
    rank = serializers.IntegerField(allow_null=True)
    rank_with_uncertainty = serializers.IntegerField(allow_null=True)


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

    def cached(self, request: Request, *, etag: str, build: Callable[[], Any]) -> Response:
        headers = {
            "ETag": etag,
            "Cache-Control": f"public, max-age={int(settings.SEAL_LEADERBOARD_CACHE_SECONDS)}",
        }
        wanted = request.headers.get("If-None-Match", "")
        if any(tag.strip().removeprefix("W/") == etag for tag in wanted.split(",")):
            return Response(status=304, headers=headers)
        key = f"lb:json:{BODY_VERSION}:{type(self).__name__}:{etag}"
        data = cache.get(key)
        if data is None:
            data = build()
            cache.set(key, data, timeout=60 * 60)
        return Response(data, headers=headers)


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
            "boards": view.boards,
        },
        context=context,
    ).data


class LeaderboardIndexApi(PublicLeaderboardApi):
    @extend_schema(
        operation_id="leaderboards_list",
        summary="Every domain's published leaderboard: snapshot, leaders, boards",
        responses={200: IndexSerializer, 304: OpenApiResponse(description="Not modified")},
        auth=[],
        tags=["leaderboards"],
    )
    def get(self, request: Request) -> Response:
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
    @extend_schema(
        operation_id="leaderboards_board_retrieve",
        summary="One published board: the domain overall, or a category ('overall' or its slug)",
        responses={
            200: BoardSerializer,
            304: OpenApiResponse(description="Not modified"),
            **PUBLIC_ERRORS,
        },
        auth=[],
        tags=["leaderboards"],
    )
    def get(self, request: Request, domain_slug: str, board_key: str = OVERALL_KEY) -> Response:
        version = published_version(domain_slug=domain_slug)
        if version is None:
            raise NotFound("No published leaderboard for this domain.")

        def build() -> Any:
            # Exactly the snapshot the ETag names, whatever the pointer says by now.
            view = board_view(domain_slug=domain_slug, board_key=board_key, version=version)
            if view is None:
                raise NotFound("No such board.")
            return _board_body(view)

        return self.cached(request, etag=f'"{version.key}-{board_key}"', build=build)


class LeaderboardDomainApi(LeaderboardBoardApi):
    @extend_schema(
        operation_id="leaderboards_domain_retrieve",
        summary="A domain's published overall board (the same as its board 'overall')",
        responses={
            200: BoardSerializer,
            304: OpenApiResponse(description="Not modified"),
            **PUBLIC_ERRORS,
        },
        auth=[],
        tags=["leaderboards"],
    )
    def get(self, request: Request, domain_slug: str, board_key: str = OVERALL_KEY) -> Response:
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
    @extend_schema(
        operation_id="leaderboards_seasons_list",
        summary="A domain's seasons: one per prompt set version with a published board",
        responses={
            200: SeasonListSerializer,
            304: OpenApiResponse(description="Not modified"),
            **PUBLIC_ERRORS,
        },
        auth=[],
        tags=["leaderboards"],
    )
    def get(self, request: Request, domain_slug: str) -> Response:
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
    @extend_schema(
        operation_id="leaderboards_season_board_retrieve",
        summary="One board as last published for a season (prompt set version) of a domain",
        responses={
            200: BoardSerializer,
            304: OpenApiResponse(description="Not modified"),
            **PUBLIC_ERRORS,
        },
        auth=[],
        tags=["leaderboards"],
    )
    def get(
        self, request: Request, domain_slug: str, season: str, board_key: str = OVERALL_KEY
    ) -> Response:
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
    @extend_schema(
        operation_id="leaderboards_model_retrieve",
        summary="A model's place on every public board and its Elo history",
        responses={
            200: ModelSerializer,
            304: OpenApiResponse(description="Not modified"),
            **PUBLIC_ERRORS,
        },
        auth=[],
        tags=["leaderboards"],
    )
    def get(self, request: Request, pk: int) -> Response:
        view = model_view(model_version_id=pk)
        if view is None:
            raise NotFound("This model is not on a public leaderboard.")
        return self.cached(
            request,
            etag=f'"model-{pk}-{view.history_key}"',
            build=lambda: ModelSerializer(view).data,
        )


# --- A lab's own results -------------------------------------------------------------------------


@extend_schema_serializer(component_name="LabResult")
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
    rank = serializers.IntegerField(allow_null=True)
    rank_with_uncertainty = serializers.IntegerField(allow_null=True)
    elo = serializers.FloatField(allow_null=True)
    lower = serializers.FloatField(allow_null=True)
    upper = serializers.FloatField(allow_null=True)
    n_ratings = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)
    accuracy_lower = serializers.FloatField(allow_null=True)
    accuracy_upper = serializers.FloatField(allow_null=True)
    issue_tags = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="How often finally approved ratings tagged this model's own answers",
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
