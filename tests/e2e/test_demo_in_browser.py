"""The demo's variety as people see it (issue 14 item 9), in Chromium at 1280 x 900.

Seeds the demo (committed, for the live server's threads: a seed of its own, where
tests/test_seed_demo.py checks a rolled-back one), checks the data, then reads it in the pages:
a reviewer's queue shows different justifications and issue tags by their labels, and the
staff's annotator quality page shows gold accuracy and approval rates that differ by rater.
Before the demo was varied, every justification was the same sentence, no tag was seeded, gold
accuracy read "—" and approval 100% for everyone. Screenshots go to test-artifacts/pages/.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tests.e2e.test_pages_in_browser import (  # noqa: F401 - browser is a fixture
    PASSWORD,
    browser,
    desktop,
    log_in,
    shot,
)
from tests.support import require_postgres
from tests.test_seed_demo import assert_demo_variety

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_demo_shows_varied_justifications_tags_gold_and_approval(
    browser,  # noqa: F811 - the fixture imported above
    live_server,
):
    require_postgres()  # emptying the demo's approved ratings afterwards: PostgreSQL's flush only
    call_command("seed_demo", stdout=StringIO())
    assert_demo_variety()
    for username in ("admin", "reviewer1"):
        user = User.objects.get(username=username)
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])

    page = desktop(browser, live_server.url)
    log_in(page, "reviewer1")
    page.goto("/review/layer-1/")
    items = page.locator("table a", has_text="Review")
    urls = [items.nth(k).get_attribute("href") for k in range(min(8, items.count()))]
    assert len(urls) >= 4, urls
    justifications, issues = [], []
    for url in urls:
        page.goto(url)
        justifications.append(page.locator("blockquote").first.inner_text().strip())
        issues += [text.strip() for text in page.locator(".issues").all_inner_texts()]
    shot(page, "demo-review-item")
    assert len(set(justifications)) >= len(justifications) - 1, justifications
    named = [text for text in issues if text != "none"]
    assert named, issues  # some answers carry tags ...
    assert all(not re.fullmatch(r"[a-z_]+(, [a-z_]+)*", text) for text in named), named  # labels

    page = desktop(browser, live_server.url)
    log_in(page, "admin")
    page.goto("/admin/annotation/annotatorprofile/quality/")
    shot(page, "demo-quality")
    rows = page.locator("#quality tbody tr")
    cells = [rows.nth(k).locator("td").all_inner_texts() for k in range(rows.count())]
    rated = [row for row in cells if row[2] not in ("0", "")]
    gold = {row[4] for row in rated}
    layer1 = {row[5] for row in rated}
    assert len(gold - {"—"}) > 2, gold
    assert len(layer1 - {"—"}) > 2 and any(value != "100%" for value in layer1 - {"—"}), layer1
