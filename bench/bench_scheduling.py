"""Adaptive scheduling against today's count balancing, in simulation with the real code.

    OPENBLAS_NUM_THREADS=1 python bench/bench_scheduling.py --trials 24 --batch 20 \
        --spread 1000 --history 20
    python bench/bench_scheduling.py --models 40 --trials 16 --replicas 200

A board of established models with known true strengths (spread evenly over --spread Elo, model
ids in random order as submission order would give) has a history of ratings; a new model with a
random true strength arrives. Each comparison is rated by three raters who share the prompt's
effect on the pair (a N(0, --prompt-sd) shift of the log-odds, which is what makes their ratings
correlated) and tie 10% of the time. Both arms spend ratings in batches of --batch comparisons
and after each batch the real ranking engine (rank_models, prompt bootstrap) publishes a board,
so both are checked at the same rating counts against the same published interval:

* count balancing: today's `_comparisons_schedule_domain` rule, the newcomer meets the
  established model it met least (ties by id), over and over;
* adaptive: the same rule for a seed of --seed comparisons (the spread), then every batch is
  chosen by the real selection, `leaderboards.stats.scheduling.comparisons_select`, with the
  newcomer as target and the seed comparisons of the batch counted as open work.

Reported per arm: ratings (since the newcomer arrived) until its interval's half-width reaches
the target, and until it sits between its true neighbours on the board for good (from then to
the end of the run), as mean ± standard error over the trials (the same seeds for both arms),
the paired saving and its spread per trial. Trials that never get there within --max-ratings
are counted and shown. Then the best saving the selection's information model allows on the same
boards (`design_bound`), and the selection's own run time at --timing-models models (300 picks,
the per-run cap); --domain-run times whole scheduling jobs on PostgreSQL.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaderboards.stats import ELO_SCALE, Comparisons, RankingConfig, rank_models
from leaderboards.stats.bradley_terry import prior_ridge
from leaderboards.stats.intervals import normal_quantile
from leaderboards.stats.scheduling import (
    SelectionConfig,
    comparisons_select,
    pair_record,
)
from seal.simulation import preference_draw, preferences_outcome, win_probability

RATERS = 3
TIE_RATE = 0.1


@dataclass
class Ratings:
    prompt: list[int]
    model_a: list[int]
    model_b: list[int]
    outcome: list[float]

    def add(self, prompt: int, a: int, b: int, outcomes: list[float]) -> None:
        for value in outcomes:
            self.prompt.append(prompt)
            self.model_a.append(a)
            self.model_b.append(b)
            self.outcome.append(value)


def rate(
    rng: np.random.Generator, beta: np.ndarray, a: int, b: int, prompt_sd: float
) -> list[float]:
    """Three correlated ratings of one comparison: a shared prompt shift, then each rater."""
    shift = rng.normal(0.0, prompt_sd)
    p_a = win_probability(beta[a] - beta[b] + shift)
    preferences = [
        preference_draw(rng, p_a, tie_rate=TIE_RATE, strong_rate=0.0) for _ in range(RATERS)
    ]
    return preferences_outcome(preferences).tolist()


def history(rng: np.random.Generator, beta: np.ndarray, n_est: int, per_pair: int, args) -> Ratings:
    """The established board: every pair of established models compared `per_pair` times."""
    ratings = Ratings([], [], [], [])
    prompt = 0
    for a in range(n_est):
        for b in range(a + 1, n_est):
            for _ in range(per_pair):
                ratings.add(prompt % args.prompts, a, b, rate(rng, beta, a, b, args.prompt_sd))
                prompt += 1
    return ratings


def board(ratings: Ratings, args, seed: int) -> dict[int, tuple[float, float, float]]:
    """The real engine's board: model -> (elo, lower, upper) for ranked models."""
    comparisons = Comparisons.from_arrays(
        prompt=np.asarray(ratings.prompt),
        model_a=np.asarray(ratings.model_a),
        model_b=np.asarray(ratings.model_b),
        outcome=np.asarray(ratings.outcome),
    )
    config = RankingConfig(replicas=args.replicas, seed=seed, min_ratings=20)
    result = rank_models(comparisons, config)
    return {
        int(line.model): (line.elo, line.lower, line.upper)  # type: ignore[call-overload,misc]
        for line in result.ranked
    }


def between_true_neighbours(
    lines: dict[int, tuple[float, float, float]], new: int, true: np.ndarray
) -> bool:
    """Whether the newcomer's estimated Elo lies between those of its true neighbours."""
    if new not in lines:
        return False
    others = [m for m in lines if m != new]
    above = [m for m in others if true[m] > true[new]]
    below = [m for m in others if true[m] < true[new]]
    elo = lines[new][0]
    ok_above = not above or elo < lines[min(above, key=lambda m: true[m])][0]
    ok_below = not below or elo > lines[max(below, key=lambda m: true[m])][0]
    return ok_above and ok_below


def trial(seed: int, adaptive: bool, args) -> tuple[int | None, int | None, float, bool]:
    """One newcomer's evaluation; ratings to the target half-width and to a settled position."""
    rng = np.random.default_rng(seed)
    n_est = args.models - 1
    elo_true = np.linspace(1000 - args.spread / 2, 1000 + args.spread / 2, n_est)
    if not args.ids_by_strength:
        # Model ids follow submission order, not strength: count balancing breaks ties by id,
        # so ids sorted by strength would make the seed meet only the weakest models.
        elo_true = np.random.default_rng(seed + 2_000_000).permutation(elo_true)
    new_elo = rng.uniform(1000 - args.spread / 2.5, 1000 + args.spread / 2.5)
    true = np.append(elo_true, new_elo)
    beta = (true - 1000) / ELO_SCALE
    new = args.models - 1
    ratings = history(rng, beta, n_est, args.history, args)
    start = len(ratings.outcome)
    sim_rng = np.random.default_rng(seed + 1_000_000)  # same rater draws order across arms
    met = np.zeros(args.models, dtype=np.int64)
    used = np.zeros((args.models, args.models), dtype=np.int64)
    prompt = 0
    reached: int | None = None
    stalled = 0
    trajectory: list[tuple[int, bool]] = []
    selection_time = 0.0
    config = SelectionConfig(
        target_half_width=args.target,
        neighbour_weight=args.neighbour_weight,
        background_weight=args.background_weight,
        effective_ratings_per_comparison=args.effective,
        expected_information=not args.point_information,
    )
    targets = np.zeros(args.models, dtype=bool)
    targets[new] = True
    ci, cj = np.triu_indices(args.models, 1)
    while len(ratings.outcome) - start < args.max_ratings:
        spent = len(ratings.outcome) - start
        picks: list[tuple[int, int]] = []
        # Both arms publish a board after every --batch comparisons counted from the
        # newcomer's arrival, so "reached" is checked at the same rating counts in both. The
        # adaptive arm's seed fills the first batch(es); the selection fills the rest.
        count = args.batch if not adaptive else min(args.batch, args.seed - spent // RATERS)
        for _ in range(max(count, 0)):
            opponent = int(np.lexsort((np.arange(n_est), met[:n_est]))[0])
            met[opponent] += 1
            picks.append((opponent, new))
        if adaptive and len(picks) < args.batch:
            a = np.asarray(ratings.model_a + [x for x, _ in picks])
            b = np.asarray(ratings.model_b + [y for _, y in picks])
            done = len(ratings.model_a)
            outcome = np.asarray(ratings.outcome)
            if args.oracle:
                # Diagnostic only: the selection sees the expected outcomes of the true
                # strengths, so its picks carry no estimation error.
                outcome = win_probability(beta[a[:done]] - beta[b[:done]])
            # Experiment: ratings between established models counted --established-scale times.
            scale = np.where((a[:done] == new) | (b[:done] == new), 1.0, args.established_scale)
            # Seed comparisons of this batch are open, not rated: information to come.
            record = pair_record(
                n_models=args.models,
                pair_i=a,
                pair_j=b,
                points_i=np.append(scale * outcome, np.zeros(len(picks))),
                ratings=np.append(scale, np.zeros(len(picks))),
                pending=np.append(np.zeros(done), np.full(len(picks), float(RATERS))),
            )
            began = time.perf_counter()
            selection = comparisons_select(
                n_models=args.models,
                record=record,
                targets=targets,
                candidate_i=ci,
                candidate_j=cj,
                candidate_capacity=args.prompts - used[ci, cj],
                limit=args.batch - len(picks),
                config=config,
            )
            selection_time += time.perf_counter() - began
            picks += list(zip(selection.pair_i.tolist(), selection.pair_j.tolist(), strict=True))
            if not picks:
                stalled += 1
                break
        for a_, b_ in picks:
            used[min(a_, b_), max(a_, b_)] += 1
            ratings.add(prompt % args.prompts, a_, b_, rate(sim_rng, beta, a_, b_, args.prompt_sd))
            prompt += 1
        spent = len(ratings.outcome) - start
        lines = board(ratings, args, seed)
        if new in lines and reached is None:
            _, lower, upper = lines[new]
            if (upper - lower) / 2 <= args.target:
                reached = spent
        trajectory.append((spent, between_true_neighbours(lines, new, true)))
        if reached is not None and spent >= reached + args.settle_margin:
            break
    # Settled: correct at every check from some point to the end of the run.
    wrong_until = None
    for k in range(len(trajectory) - 1, -1, -1):
        if not trajectory[k][1]:
            wrong_until = k
            break
    settled = None
    if trajectory and trajectory[-1][1]:
        settled = trajectory[0][0] if wrong_until is None else trajectory[wrong_until + 1][0]
    return reached, settled, selection_time, stalled > 0


def design_bound(seed: int, args, effective: float) -> tuple[int, int]:
    """Comparisons to the target under the selection's own Gaussian information model, with the
    true strengths known: count balancing versus the greedy that always adds the opponent
    which most shrinks the newcomer's centred variance (no seed, re-planned after every pick).

    This is the saving the information model allows at best on this board (the greedy is close
    to the optimal design for one contrast); the engine's bootstrap is noisier but not kinder."""
    rng = np.random.default_rng(seed)
    n = args.models
    elo_true = np.linspace(1000 - args.spread / 2, 1000 + args.spread / 2, n - 1)
    new_elo = rng.uniform(1000 - args.spread / 2.5, 1000 + args.spread / 2.5)
    beta = (np.append(elo_true, new_elo) - 1000) / ELO_SCALE
    i, j = np.triu_indices(n - 1, 1)
    e = effective
    p = win_probability(beta[i] - beta[j])
    weight = e * args.history * p * (1 - p)
    info = np.zeros((n, n))
    np.add.at(info, (i, i), weight)
    np.add.at(info, (j, j), weight)
    np.add.at(info, (i, j), -weight)
    np.add.at(info, (j, i), -weight)
    info[np.diag_indices(n)] += prior_ridge(SelectionConfig.prior_sd)
    c = np.full(n, -1.0 / n)
    c[-1] += 1.0
    target = (args.target / (normal_quantile(0.95) * ELO_SCALE)) ** 2
    p_new = win_probability(beta[:-1] - beta[-1])
    w_new = e * p_new * (1 - p_new)
    needed = []
    for greedy in (False, True):
        cov = np.linalg.inv(info)
        met = np.zeros(n - 1)
        k = 0
        while c @ cov @ c > target and k < args.max_ratings:
            if greedy:
                u = c @ (cov[:, :-1] - cov[:, [-1]])
                s = np.diag(cov)[:-1] + cov[-1, -1] - 2 * cov[-1, :-1]
                opponent = int(np.argmax(w_new * u * u / (1 + w_new * s)))
            else:
                opponent = int(np.argmin(met))  # the order does not matter to the variance
                met[opponent] += 1
            d = np.zeros(n)
            d[opponent], d[-1] = 1.0, -1.0
            cd = cov @ d
            cov -= w_new[opponent] * np.outer(cd, cd) / (1 + w_new[opponent] * (d @ cd))
            k += 1
        needed.append(k)
    return needed[0], needed[1]


def design_check(args, comparisons: int = 300) -> None:
    """At a fixed number of newcomer comparisons, how the engine's published squared half-width
    and the information model's (independent ratings) respond to meeting only the nearest
    opponents instead of count balancing; printed as ratios to count balancing's."""
    n = args.models
    n_est = n - 1
    engine: dict[str, list[float]] = {}
    model: dict[str, list[float]] = {}
    for t in range(args.first_trial, args.first_trial + args.trials):
        seed = 1000 + t
        rng = np.random.default_rng(seed)
        elo = np.linspace(1000 - args.spread / 2, 1000 + args.spread / 2, n_est)
        new_elo = rng.uniform(1000 - args.spread / 2.5, 1000 + args.spread / 2.5)
        beta = (np.append(elo, new_elo) - 1000) / ELO_SCALE
        past = history(rng, beta, n_est, args.history, args)
        order = np.argsort(np.abs(elo - new_elo))
        designs = {
            "count balancing": [k % n_est for k in range(comparisons)],
            "4 nearest": [int(order[k % 4]) for k in range(comparisons)],
            "10 nearest": [int(order[k % 10]) for k in range(comparisons)],
        }
        i, j = np.triu_indices(n_est, 1)
        for name, opponents in designs.items():
            ratings = Ratings(list(past.prompt), list(past.model_a), list(past.model_b), [])
            ratings.outcome = list(past.outcome)
            draws = np.random.default_rng(seed + 7)
            for k, o in enumerate(opponents):
                ratings.add(k % args.prompts, o, n_est, rate(draws, beta, o, n_est, args.prompt_sd))
            lines = board(ratings, args, seed)
            engine.setdefault(name, []).append(((lines[n_est][2] - lines[n_est][1]) / 2) ** 2)
            a = np.concatenate([i, np.asarray(opponents)])
            b = np.concatenate([j, np.full(len(opponents), n_est)])
            total = np.concatenate(
                [np.full(len(i), float(args.history * RATERS)), np.full(len(opponents), 3.0)]
            )
            p = win_probability(beta[a] - beta[b])
            w = total * p * (1 - p)
            info = np.zeros((n, n))
            np.add.at(info, (a, a), w)
            np.add.at(info, (b, b), w)
            np.add.at(info, (a, b), -w)
            np.add.at(info, (b, a), -w)
            info[np.diag_indices(n)] += prior_ridge(SelectionConfig.prior_sd)
            c = np.full(n, -1.0 / n)
            c[n_est] += 1.0
            half = normal_quantile(0.95) * ELO_SCALE
            model.setdefault(name, []).append(half**2 * float(c @ np.linalg.inv(info) @ c))
    base_e = np.asarray(engine["count balancing"])
    base_m = np.asarray(model["count balancing"])
    print(f"\nAt {comparisons} newcomer comparisons ({args.trials} boards), squared half-width:")
    print(
        "| opponents | engine | engine / count balancing (± SE) | model | model / count balancing |"
    )
    print("|---|---|---|---|---|")
    for name in engine:
        ratio_e = np.asarray(engine[name]) / base_e
        ratio_m = np.asarray(model[name]) / base_m
        se = float(ratio_e.std(ddof=1) / np.sqrt(len(ratio_e))) if len(ratio_e) > 1 else 0.0
        print(
            f"| {name} | {np.mean(engine[name]):.0f} | {ratio_e.mean():.2f} ± {se:.2f} "
            f"| {np.mean(model[name]):.0f} | {ratio_m.mean():.2f} |"
        )


def published_spread(args) -> float:
    """Elo between the best and the worst established model on the board the engine publishes
    from the first trial's history: ties (10% at any gap) and the raters' shared shift pull
    outcomes towards one half, so the published scale is narrower than --spread."""
    rng = np.random.default_rng(1000)
    n_est = args.models - 1
    beta = (np.linspace(1000 - args.spread / 2, 1000 + args.spread / 2, n_est) - 1000) / ELO_SCALE
    lines = board(history(rng, beta, n_est, args.history, args), args, 1000)
    elo = [line[0] for line in lines.values()]
    return max(elo) - min(elo)


def timing(args) -> list[float]:
    """Seconds of one selection run (the per-run cap of picks) at `timing_models` models."""
    rng = np.random.default_rng(7)
    n = args.timing_models
    beta = np.linspace(-1.5, 1.5, n)
    i, j = np.triu_indices(n - 3, 1)
    total = np.full(len(i), 6.0)
    p = win_probability(beta[i] - beta[j])
    record = pair_record(
        n_models=n, pair_i=i, pair_j=j, points_i=rng.binomial(6, p).astype(float), ratings=total
    )
    targets = np.zeros(n, dtype=bool)
    targets[-3:] = True
    ci, cj = np.triu_indices(n, 1)
    times = []
    for _ in range(3):
        began = time.perf_counter()
        comparisons_select(
            n_models=n,
            record=record,
            targets=targets,
            candidate_i=ci,
            candidate_j=cj,
            candidate_capacity=np.full(len(ci), 1000),
            limit=300,
        )
        times.append(time.perf_counter() - began)
    return times


def _approved_write(assignment_model, rating_model, assignments, domain, now) -> None:
    """Approved assignments and their ApprovedRating copies, in bulk."""
    from annotation.services import preference_outcome

    made = assignment_model.objects.bulk_create(assignments, batch_size=2000)
    rating_model.objects.bulk_create(
        (
            rating_model(
                assignment=x,
                task=x.task,
                domain=domain,
                prompt_id=x.task.prompt_id,
                model_a_id=x.task.response_a.model_version_id,
                model_b_id=x.task.response_b.model_version_id,
                annotator=x.annotator,
                preference=x.preference or 0,
                outcome=preference_outcome(x.preference or 0),
                approved_at=now,
            )
            for x in made
        ),
        batch_size=2000,
    )


def domain_run(url: str, n_models: int, prompts: int, newcomers: int) -> list[float]:
    """Seconds of whole scheduling jobs (reads, selection, writes) of one PostgreSQL domain."""
    import os

    os.environ["DATABASE_URL"] = url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seal.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from annotation.models import AnnotatorProfile, ApprovedRating, Assignment, ComparisonTask
    from bench.support import bench_database_empty, postgres_database_ensure
    from leaderboards.services import scheduling_job_run, scheduling_request
    from seal.models import Lab, ModelVersion, Prompt, PromptSet, Response, Submission
    from seal.prompt_import import content_hash
    from seal.services import domain_upsert
    from tests.factories import DEFAULT_RUBRIC, UserFactory

    postgres_database_ensure(url)
    call_command("migrate", verbosity=0)
    bench_database_empty()
    settings.SEAL_SCHEDULING_HORIZON_HOURS = 1e6
    domain = domain_upsert(slug="sched", name="Sched", rubric=DEFAULT_RUBRIC)
    domain.rating_budget = 10_000_000
    domain.save()
    prompt_set = PromptSet.objects.create(domain=domain, version="1", status="active")
    texts = [f"Scheduling prompt {i}" for i in range(prompts)]
    made = Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, text=t, content_hash=content_hash(t)) for t in texts
    )
    lab = Lab.objects.create(name="Bench lab", slug="bench-lab")
    models = ModelVersion.objects.bulk_create(
        ModelVersion(lab=lab, name=f"M{k}", version="1", base_url="https://x.example/v1")
        for k in range(n_models)
    )
    responses = Response.objects.bulk_create(
        Response(model_version=m, prompt=p, status="ok", text="a", html="<p>a</p>")
        for m in models
        for p in made
    )
    answer = {(r.model_version_id, r.prompt_id): r for r in responses}
    raters = [
        AnnotatorProfile.objects.create(user=UserFactory.create(), status="vetted")
        for _ in range(3)
    ]
    for rater in raters:
        rater.domains.add(domain)
    rng = np.random.default_rng(3)
    strength = np.linspace(-1.5, 1.5, n_models)
    now = timezone.now()
    established = models[: n_models - newcomers]
    tasks = []
    k = 0
    for x, first in enumerate(established):
        for second in established[x + 1 :]:
            prompt = made[k % prompts]
            k += 1
            a, b = sorted(
                (answer[(first.pk, prompt.pk)], answer[(second.pk, prompt.pk)]),
                key=lambda r: r.pk,
            )
            tasks.append(
                ComparisonTask(
                    domain=domain,
                    prompt=prompt,
                    response_a=a,
                    response_b=b,
                    status="complete",
                    approved_count=3,
                )
            )
    tasks = ComparisonTask.objects.bulk_create(tasks, batch_size=2000)
    index = {m.pk: i for i, m in enumerate(models)}
    assignments = []
    for task in tasks:
        ma, mb = task.response_a.model_version_id, task.response_b.model_version_id
        p_a = win_probability(strength[index[ma]] - strength[index[mb]])
        for slot, rater in enumerate(raters, start=1):
            assignments.append(
                Assignment(
                    task=task,
                    annotator=rater,
                    slot=slot,
                    left_is_a=True,
                    leased_at=now,
                    lease_expires_at=now,
                    preference=preference_draw(rng, p_a, tie_rate=0.0, strong_rate=0.0),
                    submitted_at=now,
                    status="approved",
                    layer1_decision="approved",
                    layer2_decision="approved",
                    approved_at=now,
                )
            )
    # A final approval and its rating copy go in one transaction (migration 0004's trigger).
    with transaction.atomic():
        _approved_write(Assignment, ApprovedRating, assignments, domain, now)
    for model in models[n_models - newcomers :]:
        submission = Submission.objects.create(model_version=model, status="comparing")
        submission.domains.add(domain)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    times = []
    for _ in range(3):
        job = scheduling_request(domain=domain, enqueue=False)
        began = time.perf_counter()
        scheduling_job_run(job_id=job.pk)
        times.append(time.perf_counter() - began)
        job.refresh_from_db()
        print(
            f"  domain run: {times[-1]:.2f} s, {job.created_comparisons} created, "
            f"{job.status} {job.error}",
            file=sys.stderr,
        )
    return times


def _mean_se(values: list[float], unit: str = "") -> str:
    """Mean ± standard error of the mean (sample sd / sqrt(n))."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.0f}{unit}"
    se = statistics.stdev(values) / len(values) ** 0.5
    return f"{statistics.mean(values):.0f}{unit} ± {se:.0f}{unit}"


def main() -> None:
    """Run both arms over the trials and print a Markdown summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--spread", type=float, default=400.0)
    parser.add_argument("--history", type=int, default=6, help="comparisons per established pair")
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--prompt-sd", type=float, default=0.5)
    parser.add_argument("--target", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--seed", type=int, default=20, help="seed comparisons (adaptive arm)")
    parser.add_argument("--replicas", type=int, default=200)
    parser.add_argument("--max-ratings", type=int, default=9000)
    parser.add_argument("--settle-margin", type=int, default=600)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument(
        "--first-trial", type=int, default=0, help="trial k uses seed 1000 + k (to extend a run)"
    )
    parser.add_argument(
        "--background-weight", type=float, default=SelectionConfig.background_weight
    )
    parser.add_argument("--neighbour-weight", type=float, default=SelectionConfig.neighbour_weight)
    parser.add_argument(
        "--effective", type=float, default=SelectionConfig.effective_ratings_per_comparison
    )
    parser.add_argument(
        "--established-scale",
        type=float,
        default=1.0,
        help="experiment: the selection counts each rating between established models as this many",
    )
    parser.add_argument(
        "--design-check",
        action="store_true",
        help="only compare how the engine's and the model's intervals respond to the opponents",
    )
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="diagnostic: the selection is fed the true strengths' expected outcomes",
    )
    parser.add_argument(
        "--point-information",
        action="store_true",
        help="credit candidates with p(1-p) at the point estimate (the first selection did)",
    )
    parser.add_argument(
        "--ids-by-strength",
        action="store_true",
        help="number established models from weakest to strongest (the first version of this "
        "bench did; count balancing's id tie-break then seeds against the weakest only)",
    )
    parser.add_argument("--timing-models", type=int, default=100)
    parser.add_argument(
        "--domain-run",
        metavar="DATABASE_URL",
        help="also time whole scheduling jobs of a PostgreSQL domain of --timing-models models "
        "(the database is emptied), e.g. postgres://postgres@127.0.0.1:5432/seal_bench_scheduling",
    )
    parser.add_argument("--domain-prompts", type=int, default=300)
    args = parser.parse_args()
    if args.design_check:
        design_check(args)
        return

    per_trial: dict[str, list[tuple[int | None, int | None]]] = {}
    stalls = 0
    for name, adaptive in (("count balancing", False), ("adaptive", True)):
        for t in range(args.first_trial, args.first_trial + args.trials):
            reached, settled, _, stalled = trial(1000 + t, adaptive, args)
            stalls += stalled
            per_trial.setdefault(name, []).append((reached, settled))
            print(
                f"  {name} trial {t}: precision at {reached}, position at {settled}"
                + (" (selection stopped picking before the target)" if stalled else ""),
                file=sys.stderr,
            )

    print(
        f"\n{args.models} models ({args.models - 1} established over {args.spread:g} Elo, "
        f"{args.history} comparisons per established pair), {args.trials} trials (seeds "
        f"{1000 + args.first_trial}..{999 + args.first_trial + args.trials}, the same for both "
        f"arms), three correlated raters (prompt sd "
        f"{args.prompt_sd}), a board after every {args.batch} comparisons in both arms, target "
        f"half-width {args.target:g} Elo, engine bootstrap {args.replicas} replicas, "
        f"neighbour weight {args.neighbour_weight:g}\n"
    )
    if args.trials:
        print(
            f"The engine publishes the established board over {published_spread(args):.0f} Elo "
            f"(true spread {args.spread:g}).\n"
        )
    failures = 0
    print(
        "| goal | count balancing: mean ± SE (not reached) | adaptive: mean ± SE (not reached) "
        "| paired saving: ratio of means | per-trial saving: mean ± SE (min / max) |"
    )
    print("|---|---|---|---|---|")
    for goal, label in ((0, f"±{args.target:g} Elo"), (1, "between true neighbours")):
        columns = []
        for name in ("count balancing", "adaptive"):
            runs = per_trial.get(name, [])
            values = [float(x) for v in runs if (x := v[goal]) is not None]
            missing = len(runs) - len(values)
            failures += missing
            columns.append(f"{_mean_se(values)} ({missing})")
        # Paired: only trials where both arms got there, so both means cover the same boards.
        both = [
            (float(x), float(y))
            for b, a in zip(
                per_trial.get("count balancing", []), per_trial.get("adaptive", []), strict=True
            )
            if (x := b[goal]) is not None and (y := a[goal]) is not None
        ]
        if both:
            ratio = 1 - statistics.mean(a for _, a in both) / statistics.mean(b for b, _ in both)
            savings = [100 * (1 - a / b) for b, a in both]
            paired = (
                f"{100 * ratio:.0f}% over {len(both)} trials | {_mean_se(savings, '%')} "
                f"({min(savings):.0f} / {max(savings):.0f})"
            )
        else:
            paired = "- | -"
        print(f"| {label} | {columns[0]} | {columns[1]} | {paired} |")
    for effective in sorted({args.effective, float(RATERS)}):
        bounds = [
            design_bound(1000 + t, args, effective)
            for t in range(args.first_trial, args.first_trial + args.trials)
        ]
        saving = [100 * (1 - g / b) for b, g in bounds]
        if not bounds:
            break
        print(
            f"\nBest saving the selection's information model allows on these boards at "
            f"{effective:g} effective ratings per comparison (true strengths known, greedy "
            f"re-planned after every comparison, no seed): "
            f"{100 * (1 - sum(g for _, g in bounds) / sum(b for b, _ in bounds)):.0f}% (ratio "
            f"of means; {3 * statistics.mean(b for b, _ in bounds):.0f} against "
            f"{3 * statistics.mean(g for _, g in bounds):.0f} ratings; per board "
            f"{min(saving):.0f}% to {max(saving):.0f}%)."
        )
    if args.domain_run:
        seconds = domain_run(args.domain_run, args.timing_models, args.domain_prompts, 3)
        print(
            f"\nWhole scheduling job of one domain at {args.timing_models} models, "
            f"{args.domain_prompts} prompts, 3 newcomers (read, select up to 300, create, "
            f"progress): {', '.join(f'{t:.2f}' for t in seconds)} s (3 runs in a row)."
        )
    times = timing(args)
    print(
        f"\nSelection run at {args.timing_models} models (300 picks, 3 targets): "
        f"{min(times):.2f} s best, {max(times):.2f} s worst of 3 (target < 2 s)."
    )
    print(
        f"Goals not reached (trial x arm x goal; a run ends at {args.max_ratings} ratings or "
        f"{args.settle_margin} ratings after the precision target): {failures}; adaptive runs "
        f"where the selection stopped picking before the published target: {stalls}"
    )


if __name__ == "__main__":
    main()
