"""The scheduler's bulk path (comparison_tasks_add) keeps the one pair rule,
ComparisonTask.pair_problems, as comparison_task_create and the admin do, in a fixed number of
queries however many pairs it is given."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import ComparisonTask
from annotation.services import comparison_task_create, comparison_tasks_add
from seal.errors import ApplicationError
from seal.models import Response
from tests.factories import (
    DomainFactory,
    ModelVersionFactory,
    PromptFactory,
    PromptSetFactory,
    ResponseFactory,
)

pytestmark = pytest.mark.django_db


def answers(n_prompts: int, n_models: int, domain=None) -> dict[tuple[int, int], Response]:
    """(prompt index, model index) -> a collected answer, all in one domain."""
    prompt_set = PromptSetFactory.create(domain=domain or DomainFactory.create())
    prompts = [PromptFactory.create(prompt_set=prompt_set) for _ in range(n_prompts)]
    models = [ModelVersionFactory.create() for _ in range(n_models)]
    return {
        (p, m): ResponseFactory.create(prompt=prompt, model_version=model)
        for p, prompt in enumerate(prompts)
        for m, model in enumerate(models)
    }


def refused_by_the_rule(first: Response, second: Response) -> bool:
    try:
        comparison_task_create(response_1=first, response_2=second)
    except ApplicationError:
        return True
    ComparisonTask.objects.filter(response_a__in=[first, second]).delete()
    return False


def test_the_bulk_path_skips_exactly_what_the_one_rule_refuses():
    r = answers(2, 3)
    domain_id = r[(0, 0)].prompt.prompt_set.domain_id
    Response.objects.filter(pk=r[(1, 2)].pk).update(status=Response.Status.FAILED, text="")
    r[(1, 2)].refresh_from_db()
    elsewhere = answers(1, 2)
    candidates = {
        "good": (r[(0, 0)], r[(0, 1)]),
        "good too": (r[(1, 1)], r[(1, 0)]),
        "two prompts": (r[(0, 0)], r[(1, 1)]),
        "one model": (r[(0, 2)], r[(1, 2)]),
        "a failed answer": (r[(1, 0)], r[(1, 2)]),
    }
    refused = {name for name, pair in candidates.items() if refused_by_the_rule(*pair)}
    assert refused == {"two prompts", "one model", "a failed answer"}

    pairs = [(a.pk, b.pk) for a, b in candidates.values()]
    pairs.append((elsewhere[(0, 0)].pk, elsewhere[(0, 1)].pk))  # another domain's prompt
    assert comparison_tasks_add(domain_id=domain_id, pairs=pairs) == 2
    created = set(ComparisonTask.objects.values_list("response_a_id", "response_b_id"))
    expected = {
        tuple(sorted((a.pk, b.pk))) for name, (a, b) in candidates.items() if name not in refused
    }
    assert created == expected
    assert set(ComparisonTask.objects.values_list("prompt_id", flat=True)) == {
        r[(0, 0)].prompt_id,
        r[(1, 0)].prompt_id,
    }


def queries_to_add(pairs: list[tuple[int, int]], domain_id: int) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        created = comparison_tasks_add(domain_id=domain_id, pairs=pairs)
    return created, len(queries)


def test_the_bulk_path_takes_the_same_few_queries_for_many_pairs():
    r = answers(6, 4)
    domain_id = r[(0, 0)].prompt.prompt_set.domain_id
    every_pair = [
        (r[(p, a)].pk, r[(p, b)].pk) for p in range(6) for a in range(4) for b in range(a + 1, 4)
    ]
    assert len(every_pair) == 36
    few, few_queries = queries_to_add(every_pair[:2], domain_id)
    assert few == 2
    many, many_queries = queries_to_add(every_pair[2:], domain_id)
    assert many == 34
    # Answers, existing pairs, then one insert (inside its savepoint): never a query per pair.
    assert many_queries == few_queries <= 6
