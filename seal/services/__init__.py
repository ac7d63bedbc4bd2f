"""Every write to the evaluation catalog goes through here, one module per sub-domain:

- catalog: domains, rubrics, categories, prompt sets (import, activate)
- labs: labs, model versions and their endpoints, lab API keys
- responses: answers' style counts, prompt exposures, render limits, scrubbing secrets
- collection: submissions and the per-lab response collector
- webhooks: lab webhook endpoints, events and deliveries
- accounts: deactivating users, demo logins
- workers: the worker heartbeat

Callers import from `seal.services`; a test that patches a name patches it where it is used,
in its submodule (e.g. `seal.services.collection`).
"""

from seal.services.accounts import (
    demo_user_upsert,
    user_deactivate,
)
from seal.services.catalog import (
    PromptImportError,
    PromptImportResult,
    category_add,
    domain_upsert,
    prompt_set_activate,
    prompt_set_import,
)
from seal.services.collection import (
    SEND_LIMIT,
    UNSTORABLE,
    CollectionLeaseBusy,
    CollectionReport,
    RetryOutcome,
    collections_resume,
    lab_responses_collect,
    responses_retry_failed,
    submission_cancel,
    submission_collection_finish,
    submission_collection_start,
    submission_create,
)
from seal.services.labs import (
    endpoint_allow_list,
    lab_api_key_create,
    lab_api_key_revoke,
    lab_create,
    model_version_create,
)
from seal.services.responses import (
    answer_html_render,
    answer_render_limits,
    prompt_exposures_record,
    response_errors_scrub,
    response_style_recount,
    response_styles_backfill,
    response_styles_record,
)
from seal.services.webhooks import (
    WEBHOOK_EVENT_ID,
    WEBHOOK_EVENT_TYPES,
    WebhookDeliveryRetry,
    webhook_deliveries_sweep,
    webhook_delivery_resend,
    webhook_delivery_send,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_secret_rotate,
    webhook_endpoint_test,
    webhook_endpoint_update,
    webhook_event_emit,
    webhook_policy,
)
from seal.services.workers import (
    worker_heartbeat_record,
)

__all__ = [
    "SEND_LIMIT",
    "UNSTORABLE",
    "WEBHOOK_EVENT_ID",
    "WEBHOOK_EVENT_TYPES",
    "CollectionLeaseBusy",
    "CollectionReport",
    "PromptImportError",
    "PromptImportResult",
    "RetryOutcome",
    "WebhookDeliveryRetry",
    "answer_html_render",
    "answer_render_limits",
    "category_add",
    "collections_resume",
    "demo_user_upsert",
    "domain_upsert",
    "endpoint_allow_list",
    "lab_api_key_create",
    "lab_api_key_revoke",
    "lab_create",
    "lab_responses_collect",
    "model_version_create",
    "prompt_exposures_record",
    "prompt_set_activate",
    "prompt_set_import",
    "response_errors_scrub",
    "response_style_recount",
    "response_styles_backfill",
    "response_styles_record",
    "responses_retry_failed",
    "submission_cancel",
    "submission_collection_finish",
    "submission_collection_start",
    "submission_create",
    "user_deactivate",
    "webhook_deliveries_sweep",
    "webhook_delivery_resend",
    "webhook_delivery_send",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_secret_rotate",
    "webhook_endpoint_test",
    "webhook_endpoint_update",
    "webhook_event_emit",
    "webhook_policy",
    "worker_heartbeat_record",
]
