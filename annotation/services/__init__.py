"""Every write of the annotation workflow: vetting, hand-out, rating, two review layers.

Split by concern: `vetting` (annotator profiles, vetting, the gold qualification), `scheduling`
(comparison tasks, pairing, hand-out, leases and their expiry) and `rating` (rating submit, the
two review layers, final approval and what a final rating freezes). Callers import from here.

Locking order, to stay free of deadlocks: an assignment row before its task row. Hand-out locks
only task rows and with SKIP LOCKED, so it never waits on anyone.
"""

from __future__ import annotations

from annotation.services.rating import (
    PROMPT_FROZEN_FIELDS,
    RESPONSE_EDITABLE_FIELDS,
    RatingInput,
    approved_answer_sums_rebuild,
    preference_outcome,
    prompt_edit,
    rating_submit,
    rating_validate,
    response_edit,
    review_approve,
    review_reject,
)
from annotation.services.scheduling import (
    HANDOUT_ATTEMPTS,
    assignment_draft_save,
    assignment_next,
    assignment_skip,
    assignments_expire,
    comparison_task_create,
    comparison_tasks_add,
    comparisons_schedule,
    comparisons_schedule_sweep,
)
from annotation.services.vetting import (
    annotator_profile_upsert,
    annotator_suspend,
    annotator_vet,
    qualification_start,
)
from scales.preference import PREFERENCE_VALUES

__all__ = [
    "HANDOUT_ATTEMPTS",
    "PREFERENCE_VALUES",
    "PROMPT_FROZEN_FIELDS",
    "RESPONSE_EDITABLE_FIELDS",
    "RatingInput",
    "annotator_profile_upsert",
    "annotator_suspend",
    "annotator_vet",
    "approved_answer_sums_rebuild",
    "assignment_draft_save",
    "assignment_next",
    "assignment_skip",
    "assignments_expire",
    "comparison_task_create",
    "comparison_tasks_add",
    "comparisons_schedule",
    "comparisons_schedule_sweep",
    "preference_outcome",
    "prompt_edit",
    "qualification_start",
    "rating_submit",
    "rating_validate",
    "response_edit",
    "review_approve",
    "review_reject",
]
