"""Leaderboard JSON under /api/v1/: public boards, and a lab's own results (API key)."""

from django.urls import path

from leaderboards import apis

urlpatterns = [
    path("leaderboards/", apis.LeaderboardIndexApi.as_view(), name="api-leaderboards"),
    path(
        "leaderboards/models/<int:pk>/",
        apis.LeaderboardModelApi.as_view(),
        name="api-leaderboard-model",
    ),
    # Before the board route: "snapshots" and "diff" are not category slugs.
    path(
        "leaderboards/<slug:domain_slug>/snapshots/",
        apis.LeaderboardSnapshotsApi.as_view(),
        name="api-leaderboard-snapshots",
    ),
    path(
        "leaderboards/<slug:domain_slug>/snapshots/<int:snapshot_id>/",
        apis.LeaderboardSnapshotApi.as_view(),
        name="api-leaderboard-snapshot",
    ),
    path(
        "leaderboards/<slug:domain_slug>/snapshots/<int:snapshot_id>/<slug:board_key>/",
        apis.LeaderboardSnapshotBoardApi.as_view(),
        name="api-leaderboard-snapshot-board",
    ),
    path(
        "leaderboards/<slug:domain_slug>/diff/",
        apis.LeaderboardDiffApi.as_view(),
        name="api-leaderboard-diff",
    ),
    path(
        "leaderboards/<slug:domain_slug>/seasons/",
        apis.LeaderboardSeasonListApi.as_view(),
        name="api-leaderboard-seasons",
    ),
    path(
        "leaderboards/<slug:domain_slug>/seasons/<str:season>/<slug:board_key>/",
        apis.LeaderboardSeasonBoardApi.as_view(),
        name="api-leaderboard-season-board",
    ),
    path(
        "leaderboards/<slug:domain_slug>/",
        apis.LeaderboardDomainApi.as_view(),
        name="api-leaderboard-domain",
    ),
    path(
        "leaderboards/<slug:domain_slug>/<slug:board_key>/",
        apis.LeaderboardBoardApi.as_view(),
        name="api-leaderboard-board",
    ),
    path("results/", apis.LabResultsApi.as_view(), name="api-results"),
]
