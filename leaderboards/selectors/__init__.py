"""Reads of the leaderboards: what the public may see (the recompute reads in recompute_inputs).

The public only ever reads published, visible snapshots. Nothing here returns prompt text except
`public_sample_prompts`, which returns only prompts staff marked as public samples.

One module per concern:
- lines.py: EntryRow and LINE_FIELDS: a model's line on a board, declared once
- findings.py: estimates and standing shifts shown with a board
- boards.py: one public board, the index of boards, charts, sample prompts
- pointers.py: what a domain publishes now: pointer, version, numbers, ratings file
- seasons.py: the snapshot at the end of each season
- model_page.py: a model's page
- lab_results.py: a lab's own results, the webhook lines, evaluation progress
- sweep.py: approvals whose recompute request was lost
- history.py: snapshot history by id and date, diffs, the changelog, citations, downloads

Every public name is re-exported here: callers import `from leaderboards.selectors import X`.
"""

from leaderboards.selectors.boards import (
    BoardLink,
    BoardView,
    DomainInfo,
    DomainSummary,
    FacetGroup,
    FindingsRow,
    IndexVersion,
    SamplePrompt,
    SnapshotInfo,
    board_stored,
    board_view,
    leaderboard_index,
    leaderboard_index_version,
    model_labels,
    public_chart_board,
    public_chart_svg,
    public_sample_prompts,
)
from leaderboards.selectors.findings import Estimate, Finding, StandingShift
from leaderboards.selectors.history import (
    CHANGELOG_PAGE,
    ChangelogItem,
    Citation,
    DiffLine,
    DiffRow,
    DiffStatus,
    DownloadBoard,
    SnapshotDiff,
    SnapshotSummary,
    changelog,
    changelog_size,
    diff_rows,
    history_domain,
    history_version,
    snapshot_board_view,
    snapshot_citation,
    snapshot_diff,
    snapshot_download_boards,
    snapshot_history,
    snapshot_on_date,
    snapshot_summary,
)
from leaderboards.selectors.lab_results import (
    LAB_LINE,
    WEBHOOK_LINE,
    LabResult,
    evaluation_progress_many,
    lab_results,
    snapshot_results_by_lab,
)
from leaderboards.selectors.lines import ENTRY_COLUMNS, LINE_FIELDS, EntryRow, LineField
from leaderboards.selectors.model_page import (
    HISTORY_LINE,
    HistoryPoint,
    ModelStanding,
    ModelView,
    model_view,
)
from leaderboards.selectors.pointers import (
    PublishedVersion,
    public_domain_exists,
    public_ratings_file,
    public_ratings_file_exists,
    public_ratings_file_source_exists,
    published_pointer,
    published_version,
    snapshot_published_numbers,
)
from leaderboards.selectors.seasons import SeasonLink, domain_seasons, season_version
from leaderboards.selectors.sweep import domains_with_unrequested_approvals

__all__ = [
    "CHANGELOG_PAGE",
    "ENTRY_COLUMNS",
    "HISTORY_LINE",
    "LAB_LINE",
    "LINE_FIELDS",
    "WEBHOOK_LINE",
    "BoardLink",
    "BoardView",
    "ChangelogItem",
    "Citation",
    "DiffLine",
    "DiffRow",
    "DiffStatus",
    "DomainInfo",
    "DomainSummary",
    "DownloadBoard",
    "EntryRow",
    "Estimate",
    "FacetGroup",
    "Finding",
    "FindingsRow",
    "HistoryPoint",
    "IndexVersion",
    "LabResult",
    "LineField",
    "ModelStanding",
    "ModelView",
    "PublishedVersion",
    "SamplePrompt",
    "SeasonLink",
    "SnapshotDiff",
    "SnapshotInfo",
    "SnapshotSummary",
    "StandingShift",
    "board_stored",
    "board_view",
    "changelog",
    "changelog_size",
    "diff_rows",
    "domain_seasons",
    "domains_with_unrequested_approvals",
    "evaluation_progress_many",
    "history_domain",
    "history_version",
    "lab_results",
    "leaderboard_index",
    "leaderboard_index_version",
    "model_labels",
    "model_view",
    "public_chart_board",
    "public_chart_svg",
    "public_domain_exists",
    "public_ratings_file",
    "public_ratings_file_exists",
    "public_ratings_file_source_exists",
    "public_sample_prompts",
    "published_pointer",
    "published_version",
    "season_version",
    "snapshot_board_view",
    "snapshot_citation",
    "snapshot_diff",
    "snapshot_download_boards",
    "snapshot_history",
    "snapshot_on_date",
    "snapshot_published_numbers",
    "snapshot_results_by_lab",
    "snapshot_summary",
]
