"""The web process loads what it needs to serve pages: the numerical and plotting libraries
(pandas, pyarrow, matplotlib, scipy) are imported by the recompute, the charts, the Parquet
downloads and the staff quality table when they run, not when the site starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "pandas", "pyarrow", "scipy")

LOAD_THE_SITE = """
import json, sys
from django.urls import URLPattern, URLResolver, get_resolver
import seal.wsgi  # django.setup(): every app, its models and its admin

def walk(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            walk(pattern.url_patterns)
        else:
            assert isinstance(pattern, URLPattern)
            pattern.callback  # the view's module, imported

walk(get_resolver().url_patterns)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in %r)))
"""


def test_loading_the_wsgi_application_and_every_url_imports_no_pandas_or_matplotlib():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "seal.settings", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_THE_SITE % (HEAVY,)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"the web process imported {sorted({n.split('.')[0] for n in loaded})}"
