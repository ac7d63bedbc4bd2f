"""Every Celery task's name, in one place.

A task is registered under its name here (`@shared_task(name=...)`) and sent by it: a lower layer
names an upper layer's task rather than importing it (`seal.tasking.task_send_on_commit`), beat's
schedule names the sweeps (settings.CELERY_BEAT_SCHEDULE), and the router names the collection
tasks (seal/celery.py). Plain strings and no imports, so settings can read them before Django's
apps are loaded. A name is what a queued message carries: renaming one strands the messages
already queued under the old name.
"""

from __future__ import annotations

# --- seal: response collection, webhooks, worker liveness -----------------------------------------
WORKER_HEARTBEAT_RECORD = "seal.tasks.worker_heartbeat_record"
LAB_RESPONSES_COLLECT = "seal.tasks.lab_responses_collect"
COLLECTIONS_RESUME = "seal.tasks.collections_resume"
WEBHOOK_DELIVERY_SEND = "seal.tasks.webhook_delivery_send"
WEBHOOK_DELIVERIES_SWEEP = "seal.tasks.webhook_deliveries_sweep"

# --- annotation: comparisons for a collected submission, assignment expiry ------------------------
COMPARISONS_SCHEDULE_FOR_SUBMISSION = "annotation.tasks.comparisons_schedule_for_submission"
COMPARISONS_SCHEDULE_SWEEP = "annotation.tasks.comparisons_schedule_sweep"
ASSIGNMENTS_EXPIRE = "annotation.tasks.assignments_expire"

# --- leaderboards: recompute and adaptive scheduling jobs -----------------------------------------
LEADERBOARD_RECOMPUTE_REQUESTED = "leaderboards.tasks.leaderboard_recompute_requested"
RECOMPUTE_JOB_RUN = "leaderboards.tasks.recompute_job_run"
RECOMPUTE_JOBS_SWEEP = "leaderboards.tasks.recompute_jobs_sweep"
RECOMPUTE_REQUEST_ALL = "leaderboards.tasks.recompute_request_all"
SCHEDULING_JOB_RUN = "leaderboards.tasks.scheduling_job_run"
SCHEDULING_JOBS_SWEEP = "leaderboards.tasks.scheduling_jobs_sweep"
SCHEDULING_REQUEST_ALL = "leaderboards.tasks.scheduling_request_all"

ALL = frozenset(
    {
        WORKER_HEARTBEAT_RECORD,
        LAB_RESPONSES_COLLECT,
        COLLECTIONS_RESUME,
        WEBHOOK_DELIVERY_SEND,
        WEBHOOK_DELIVERIES_SWEEP,
        COMPARISONS_SCHEDULE_FOR_SUBMISSION,
        COMPARISONS_SCHEDULE_SWEEP,
        ASSIGNMENTS_EXPIRE,
        LEADERBOARD_RECOMPUTE_REQUESTED,
        RECOMPUTE_JOB_RUN,
        RECOMPUTE_JOBS_SWEEP,
        RECOMPUTE_REQUEST_ALL,
        SCHEDULING_JOB_RUN,
        SCHEDULING_JOBS_SWEEP,
        SCHEDULING_REQUEST_ALL,
    }
)
