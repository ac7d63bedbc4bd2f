"""Database triggers: final ratings are append-only, and what they cite is frozen.

0002 made a finally approved assignment and its ApprovedRating copy immutable. Still possible were
a forged ApprovedRating (for a rating that was only submitted, or with other numbers than the
rating), TRUNCATE of the rating tables, and editing the prompt text or the answer a final rating
was given on. Now:

- approved rating: inserted only as the copy of a finally approved, non-gold assignment, field for
  field (task, domain, prompt, both models, annotator, preference, outcome, issue tags, approval
  time), which is what annotation.services.review_approve writes. On PostgreSQL a deferred check
  also refuses a commit that leaves an assignment approved without its copy, so the two are
  written in one transaction or not at all.
- TRUNCATE (PostgreSQL; SQLite has none) of assignments (ratings and reviews), their audit history,
  comparisons and approved ratings is refused unless the transaction set `seal.allow_truncate` to
  on (only the test suite's flush does: tests/conftest.py).
- freeze: once an approved rating cites a prompt, its text, content hash and prompt set (hence its
  domain) never change and it is never deleted; once one cites a comparison, neither answer
  changes in any column (text, and whatever a later migration adds such as stored HTML) but its
  submission link (set null when a submission is deleted) and updated_at, and neither is
  deleted. Categories, the gold answer, the external id and the public-sample flag stay editable:
  they classify or publish a prompt, they are not what was rated.

On SQLite the answer's frozen columns are listed from the model as it stands at this migration: a
later migration that adds a column (or rebuilds seal_response or seal_prompt, which drops their
triggers) must install these triggers again. tests/annotation/test_append_only.py runs on both.
"""

from django.db import migrations

MESSAGE = "finally approved ratings are append-only"
COPY_MESSAGE = MESSAGE + ": an approved rating copies a finally approved rating"
FROZEN_PROMPT = ("id", "text", "content_hash", "prompt_set_id")
# Columns of a cited answer that may still change (the rest are frozen, present and future).
RESPONSE_MUTABLE = ("submission_id", "updated_at")
TRUNCATE_GUARDED = (
    "annotation_assignment",
    "annotation_historicalassignment",
    "annotation_comparisontask",
    "annotation_approvedrating",
)

PROMPT_CITED = "EXISTS (SELECT 1 FROM annotation_approvedrating WHERE prompt_id = OLD.id)"
RESPONSE_CITED = """(EXISTS (
        SELECT 1 FROM annotation_comparisontask t
        JOIN annotation_approvedrating ar ON ar.task_id = t.id
        WHERE t.response_a_id = OLD.id
    ) OR EXISTS (
        SELECT 1 FROM annotation_comparisontask t
        JOIN annotation_approvedrating ar ON ar.task_id = t.id
        WHERE t.response_b_id = OLD.id
    ))"""

POSTGRES_COPY_MATCHES = """EXISTS (
        SELECT 1 FROM annotation_assignment a
        JOIN annotation_comparisontask t ON t.id = a.task_id
        JOIN seal_response ra ON ra.id = t.response_a_id
        JOIN seal_response rb ON rb.id = t.response_b_id
        WHERE a.id = NEW.assignment_id AND a.status = 'approved' AND NOT a.is_gold
          AND a.task_id = NEW.task_id AND t.domain_id = NEW.domain_id
          AND t.prompt_id = NEW.prompt_id
          AND ra.model_version_id = NEW.model_a_id AND rb.model_version_id = NEW.model_b_id
          AND a.annotator_id = NEW.annotator_id AND a.preference = NEW.preference
          AND NEW.outcome = CASE WHEN a.preference > 0 THEN 1.0
                                 WHEN a.preference < 0 THEN 0.0 ELSE 0.5 END
          AND a.approved_at = NEW.approved_at
          AND NEW.issue_tags_a = COALESCE(a.issue_tags -> 'a', '[]'::jsonb)
          AND NEW.issue_tags_b = COALESCE(a.issue_tags -> 'b', '[]'::jsonb)
    )"""

SQLITE_COPY_MATCHES = POSTGRES_COPY_MATCHES.replace(
    "COALESCE(a.issue_tags -> 'a', '[]'::jsonb)", "COALESCE(json_extract(a.issue_tags, '$.a'), '[]')"
).replace(
    "COALESCE(a.issue_tags -> 'b', '[]'::jsonb)", "COALESCE(json_extract(a.issue_tags, '$.b'), '[]')"
).replace("NEW.issue_tags_a =", "json(NEW.issue_tags_a) =").replace(
    "NEW.issue_tags_b =", "json(NEW.issue_tags_b) ="
).replace("NOT a.is_gold", "a.is_gold = 0")

_RESPONSE_JSONB = " - ".join(["{row}", *(f"'{c}'" for c in RESPONSE_MUTABLE)])

POSTGRES_UP = f"""
CREATE OR REPLACE FUNCTION seal_approved_rating_copy_guard() RETURNS trigger AS $$
BEGIN
    IF NOT {POSTGRES_COPY_MATCHES} THEN
        RAISE EXCEPTION '{COPY_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER approved_rating_copies_final
    BEFORE INSERT ON annotation_approvedrating
    FOR EACH ROW EXECUTE FUNCTION seal_approved_rating_copy_guard();

CREATE OR REPLACE FUNCTION seal_final_approval_has_copy() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM annotation_approvedrating WHERE assignment_id = NEW.id) THEN
        RAISE EXCEPTION '{MESSAGE}: a final approval writes its approved rating in its own '
            'transaction' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER assignment_final_has_copy
    AFTER INSERT OR UPDATE ON annotation_assignment
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.status = 'approved' AND NOT NEW.is_gold)
    EXECUTE FUNCTION seal_final_approval_has_copy();

CREATE OR REPLACE FUNCTION seal_annotation_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('seal.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
        MESSAGE = '{MESSAGE}: TRUNCATE of ' || TG_TABLE_NAME || ' is refused';
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""
CREATE TRIGGER {table}_no_truncate
    BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION seal_annotation_refuse_truncate();
"""
    for table in TRUNCATE_GUARDED
) + f"""
CREATE OR REPLACE FUNCTION seal_rated_prompt_freeze() RETURNS trigger AS $$
BEGIN
    IF NOT {PROMPT_CITED} THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a final rating cites this prompt: it cannot be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
""" + "".join(
    f"""    IF NEW.{column} IS DISTINCT FROM OLD.{column} THEN
        RAISE EXCEPTION 'a final rating cites this prompt: its {column} is frozen'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
"""
    for column in FROZEN_PROMPT
) + f"""    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER seal_prompt_rated_frozen
    BEFORE UPDATE OR DELETE ON seal_prompt
    FOR EACH ROW EXECUTE FUNCTION seal_rated_prompt_freeze();

CREATE OR REPLACE FUNCTION seal_rated_response_freeze() RETURNS trigger AS $$
DECLARE
    column_name text;
BEGIN
    IF TG_OP = 'UPDATE' AND ({_RESPONSE_JSONB.format(row="to_jsonb(NEW)")})
            = ({_RESPONSE_JSONB.format(row="to_jsonb(OLD)")}) THEN
        RETURN NEW;
    END IF;
    IF NOT {RESPONSE_CITED} THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'a final rating cites this answer: it cannot be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT key INTO column_name FROM jsonb_each(to_jsonb(NEW)) AS n(key, value)
        WHERE n.value IS DISTINCT FROM to_jsonb(OLD) -> n.key
          AND n.key NOT IN ({", ".join(f"'{c}'" for c in RESPONSE_MUTABLE)})
        ORDER BY key LIMIT 1;
    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',
        MESSAGE = 'a final rating cites this answer: its ' || column_name || ' is frozen';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER seal_response_rated_frozen
    BEFORE UPDATE OR DELETE ON seal_response
    FOR EACH ROW WHEN (OLD.status = 'ok')
    EXECUTE FUNCTION seal_rated_response_freeze();
"""

POSTGRES_DOWN = (
    """
DROP TRIGGER IF EXISTS approved_rating_copies_final ON annotation_approvedrating;
DROP TRIGGER IF EXISTS assignment_final_has_copy ON annotation_assignment;
DROP TRIGGER IF EXISTS seal_prompt_rated_frozen ON seal_prompt;
DROP TRIGGER IF EXISTS seal_response_rated_frozen ON seal_response;
"""
    + "".join(
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n" for table in TRUNCATE_GUARDED
    )
    + """
DROP FUNCTION IF EXISTS seal_approved_rating_copy_guard();
DROP FUNCTION IF EXISTS seal_final_approval_has_copy();
DROP FUNCTION IF EXISTS seal_annotation_refuse_truncate();
DROP FUNCTION IF EXISTS seal_rated_prompt_freeze();
DROP FUNCTION IF EXISTS seal_rated_response_freeze();
"""
)


def _abort(message: str) -> str:
    return f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"


def _sqlite_triggers(response_columns: list[str]) -> dict[str, str]:
    frozen_response = [c for c in response_columns if c not in RESPONSE_MUTABLE]
    triggers = {
        "approved_rating_copies_final": f"""BEFORE INSERT ON annotation_approvedrating
            FOR EACH ROW WHEN NOT {SQLITE_COPY_MATCHES}
            {_abort(COPY_MESSAGE)}""",
        "seal_prompt_rated_undeletable": f"""BEFORE DELETE ON seal_prompt
            FOR EACH ROW WHEN {PROMPT_CITED}
            {_abort("a final rating cites this prompt: it cannot be deleted")}""",
        "seal_response_rated_undeletable": f"""BEFORE DELETE ON seal_response
            FOR EACH ROW WHEN OLD.status = 'ok' AND {RESPONSE_CITED}
            {_abort("a final rating cites this answer: it cannot be deleted")}""",
    }
    for column in FROZEN_PROMPT:
        triggers[f"seal_prompt_rated_{column}_frozen"] = f"""BEFORE UPDATE OF {column}
            ON seal_prompt
            FOR EACH ROW WHEN NEW.{column} IS NOT OLD.{column} AND {PROMPT_CITED}
            {_abort(f"a final rating cites this prompt: its {column} is frozen")}"""
    for column in frozen_response:
        triggers[f"seal_response_rated_{column}_frozen"] = f"""BEFORE UPDATE OF {column}
            ON seal_response
            FOR EACH ROW WHEN OLD.status = 'ok' AND NEW.{column} IS NOT OLD.{column}
                AND {RESPONSE_CITED}
            {_abort(f"a final rating cites this answer: its {column} is frozen")}"""
    return triggers


def _response_columns(apps) -> list[str]:
    response = apps.get_model("seal", "Response")
    return [field.column for field in response._meta.concrete_fields]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP)
    elif vendor == "sqlite":
        for name, body in _sqlite_triggers(_response_columns(apps)).items():
            schema_editor.execute(f"CREATE TRIGGER {name} {body}")
    else:
        raise RuntimeError(f"No append-only triggers for database vendor {vendor!r}")


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN)
    else:
        for name in _sqlite_triggers(_response_columns(apps)):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0003_approved_rating_latest_index"),
        ("seal", "0004_response_html_and_sends"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
