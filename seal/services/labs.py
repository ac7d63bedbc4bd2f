"""Labs, their model versions and endpoints, and their API keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from seal.endpoints import AllowList, endpoint_secret_problems, endpoint_url_problems
from seal.errors import ApplicationError
from seal.generation_params import generation_params_problems
from seal.models import Lab, LabAPIKey, ModelVersion


def lab_create(*, name: str, slug: str = "", contact_email: str = "") -> Lab:
    """Register a lab."""
    name = name.strip()
    if not name:
        raise ApplicationError("A lab needs a name", field_errors={"name": ["required"]})
    slug = slug or slugify(name)
    if Lab.objects.filter(slug=slug).exists() or Lab.objects.filter(name=name).exists():
        raise ApplicationError(
            f"A lab named {name!r} already exists", field_errors={"name": ["taken"]}
        )
    return Lab.objects.create(name=name, slug=slug, contact_email=contact_email)


def _generation_params_check(params: Mapping[str, Any]) -> dict[str, Any]:
    problems = generation_params_problems(params)
    errors = {f"generation_params.{key}": messages for key, messages in problems.items()}
    if errors:
        raise ApplicationError("Invalid generation parameters", field_errors=errors)
    return dict(params)


def model_version_create(
    *,
    lab: Lab,
    name: str,
    version: str,
    base_url: str,
    model_id: str,
    generation_params: Mapping[str, Any] | None = None,
    api_secret: str = "",
) -> ModelVersion:
    """Register a model version with its OpenAI-compatible endpoint."""
    field_errors: dict[str, list[str]] = {}
    for name_, value, limit in (
        ("name", name, 100),
        ("version", version, 50),
        ("model_id", model_id, 200),
        ("base_url", base_url, 500),
        ("api_secret", api_secret, 500),
    ):
        if not value.strip() and name_ != "api_secret":
            field_errors[name_] = ["required"]
        elif len(value) > limit:
            field_errors[name_] = [f"at most {limit} characters"]
        elif "\x00" in value:
            field_errors[name_] = ["must not contain NUL characters"]
    if "base_url" not in field_errors:
        problems = endpoint_url_problems(base_url, allow=endpoint_allow_list())
        if problems:
            field_errors["base_url"] = problems
    if "api_secret" not in field_errors:
        problems = endpoint_secret_problems(api_secret)
        if problems:
            field_errors["api_secret"] = problems
    if field_errors:
        raise ApplicationError("Invalid model version", field_errors=field_errors)
    params = _generation_params_check(generation_params or {})
    if ModelVersion.objects.filter(lab=lab, name=name.strip(), version=version.strip()).exists():
        raise ApplicationError(
            f"{name} {version} is already registered", field_errors={"version": ["taken"]}
        )
    try:
        with transaction.atomic():
            return ModelVersion.objects.create(
                lab=lab,
                name=name.strip(),
                version=version.strip(),
                base_url=base_url.strip(),
                model_id=model_id.strip(),
                generation_params=params,
                api_secret=api_secret,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            f"{name} {version} is already registered", field_errors={"version": ["taken"]}
        ) from exc


def endpoint_allow_list() -> AllowList:
    """Hosts exempt from the endpoint address guard (SEAL_ENDPOINT_ALLOWED_HOSTS)."""
    return AllowList.parse(settings.SEAL_ENDPOINT_ALLOWED_HOSTS)


# --- Lab API keys ---------------------------------------------------------------------------------


def lab_api_key_create(
    *, lab: Lab, name: str, expires_at: datetime | None = None
) -> tuple[LabAPIKey, str]:
    """Issue an API key for a lab; the raw key is returned here once and stored only hashed."""
    name = name.strip()
    if not name or len(name) > 50:
        raise ApplicationError(
            "A key needs a name of at most 50 characters", field_errors={"name": ["required"]}
        )
    if problem := LabAPIKey.expiry_problem(expires_at):
        raise ApplicationError(problem, field_errors={"expires_at": [problem]})
    key, raw_key = LabAPIKey.objects.create_key(lab=lab, name=name, expiry_date=expires_at)
    assert isinstance(key, LabAPIKey)
    return key, raw_key


def lab_api_key_revoke(*, key: LabAPIKey) -> LabAPIKey:
    """Revoke a key for good: requests with it are refused from now on."""
    LabAPIKey.objects.filter(pk=key.pk).update(revoked=True)
    key.refresh_from_db()
    return key
