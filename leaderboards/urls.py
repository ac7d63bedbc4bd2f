"""Public leaderboard pages (no login)."""

from django.urls import path

from leaderboards import feeds, views

app_name = "leaderboards"

urlpatterns = [
    path("leaderboards/", views.index, name="index"),
    path("leaderboards/models/<int:pk>/", views.model, name="model"),
    path(
        "leaderboards/models/<int:pk>/history.svg",
        views.model_history_chart,
        name="model-history-chart",
    ),
    path("leaderboards/charts/<int:board_id>/<slug:kind>.svg", views.board_chart, name="chart"),
    path("leaderboards/feed.atom", feeds.SnapshotFeed(), name="feed"),
    # Before the board route: "snapshots" and "diff" are not category slugs.
    path("leaderboards/<slug:domain_slug>/snapshots/", views.snapshots, name="snapshots"),
    path(
        "leaderboards/<slug:domain_slug>/snapshots/<int:snapshot_id>/",
        views.snapshot,
        name="snapshot",
    ),
    path(
        "leaderboards/<slug:domain_slug>/snapshots/<int:snapshot_id>/<slug:board_key>/",
        views.snapshot,
        name="snapshot-board",
    ),
    path(
        "leaderboards/<slug:domain_slug>/snapshots/<int:snapshot_id>/download.<slug:fmt>",
        views.snapshot_download,
        name="snapshot-download",
    ),
    path("leaderboards/<slug:domain_slug>/diff/", views.diff, name="diff"),
    path(
        "leaderboards/<slug:domain_slug>/feed.atom", feeds.DomainSnapshotFeed(), name="domain-feed"
    ),
    path(
        "leaderboards/<slug:domain_slug>/snapshots/<int:snapshot_id>/ratings.jsonl.gz",
        views.ratings_file,
        name="ratings-file",
    ),
    path(
        "leaderboards/<slug:domain_slug>/seasons/<str:season>/",
        views.season_board,
        name="season",
    ),
    path(
        "leaderboards/<slug:domain_slug>/seasons/<str:season>/<slug:board_key>/",
        views.season_board,
        name="season-board",
    ),
    path("leaderboards/<slug:domain_slug>/", views.board, name="domain"),
    path("leaderboards/<slug:domain_slug>/<slug:board_key>/", views.board, name="board"),
    path("methodology/", views.methodology, name="methodology"),
]
