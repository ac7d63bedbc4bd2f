"""Style counts of answers: the counting rules, and one ResponseStyle row per collected answer."""

from __future__ import annotations

import pytest

from seal.answer_style import STYLE_VERSION, answer_style
from seal.models import Prompt, Response, ResponseStyle, Submission
from seal.services import response_styles_backfill, response_styles_record, submission_create
from tests.builders import domain_with_prompts, model_on
from tests.factories import ModelVersionFactory, ResponseFactory

MARKDOWN = """# Title
Some **bold** text and __more bold__ and a ** not bold ** pair.

## Steps
- one
* two
+ three
1. first
2) second
-not a list item

```python
# not a header
- not a list item
print("**not bold**")
```

~~~
unclosed fence, still one block
"""


def test_the_counting_rules():
    style = answer_style(MARKDOWN)
    assert style.headers == 2
    assert style.list_items == 5
    assert style.bold == 2
    assert style.code_blocks == 2
    assert answer_style("don't stop").tokens == 4  # don ' t stop
    assert answer_style("x = 1;").tokens == 4
    assert answer_style("").as_tuple() == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_a_stored_answer_gets_its_style_counted_once():
    response = ResponseFactory.create(text=MARKDOWN)
    assert response_styles_record(responses=[(response.pk, response.text)]) == 1
    style = ResponseStyle.objects.get(response=response)
    assert (style.tokens, style.headers, style.list_items, style.bold, style.code_blocks) == (
        answer_style(MARKDOWN).as_tuple()
    )
    assert style.version == STYLE_VERSION
    # An answer's text never changes once stored: a second count leaves the row as it is.
    response_styles_record(responses=[(response.pk, "# other")])
    assert ResponseStyle.objects.filter(response=response).count() == 1
    assert ResponseStyle.objects.get(response=response).headers == 2


@pytest.mark.django_db
def test_collected_answers_get_their_style_counted(
    fake_endpoint, django_capture_on_commit_callbacks
):
    domain, _ = domain_with_prompts(5)
    model_version = model_on(fake_endpoint, "ok")
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(model_version=model_version, domains=[domain.slug])
    submission.refresh_from_db()
    assert submission.status == Submission.Status.COLLECTED
    responses = Response.objects.filter(model_version=model_version, status=Response.Status.OK)
    assert responses.count() == 5
    styles = ResponseStyle.objects.filter(response__in=responses)
    assert styles.count() == 5
    for style in styles.select_related("response"):
        assert style.tokens == answer_style(style.response.text).tokens > 0


@pytest.mark.django_db
def test_the_backfill_counts_answers_stored_by_other_paths():
    domain, prompt_set = domain_with_prompts(3)
    prompts = list(Prompt.objects.filter(prompt_set=prompt_set))
    model_version = ModelVersionFactory.create()
    for prompt in prompts:
        Response.objects.create(
            model_version=model_version, prompt=prompt, status=Response.Status.OK, text="- a\n- b"
        )
    Response.objects.create(
        model_version=ModelVersionFactory.create(),
        prompt=prompts[0],
        status=Response.Status.FAILED,
        error="timeout",
    )
    assert response_styles_backfill(domain_id=domain.pk, batch=2) == 3
    assert set(ResponseStyle.objects.values_list("list_items", flat=True)) == {2}
    assert response_styles_backfill(domain_id=domain.pk) == 0
