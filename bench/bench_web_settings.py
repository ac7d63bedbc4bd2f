"""Settings for the leaderboard web benchmark: the project's, plus a trivial view's URL."""

from seal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_web_urls"
