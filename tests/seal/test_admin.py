"""The staff admin: every page loads, searches and filters work, secrets stay write-only."""

import pytest
from django.contrib import admin
from django.urls import reverse

from seal.models import ModelVersion
from tests.factories import (
    AnnotatorProfileFactory,
    CategoryFactory,
    ModelVersionFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    return client


def test_every_admin_changelist_and_add_page_loads_with_search(staff_client):
    ResponseFactory.create()
    CategoryFactory.create()
    AnnotatorProfileFactory.create()
    for model in admin.site._registry:
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert staff_client.get(changelist).status_code == 200, changelist
        assert staff_client.get(changelist, {"q": "x"}).status_code == 200, changelist
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        assert staff_client.get(add).status_code in {200, 403}, add


def test_the_endpoint_secret_is_never_rendered_back(staff_client):
    model_version = ModelVersionFactory.create(api_secret="sk-very-secret-value")
    url = reverse("admin:seal_modelversion_change", args=[model_version.pk])
    page = staff_client.get(url).content.decode()
    assert "sk-very-secret-value" not in page
    listing = staff_client.get(reverse("admin:seal_modelversion_changelist")).content.decode()
    assert "sk-very-secret-value" not in listing

    form = {
        "lab": model_version.lab_id,
        "name": model_version.name,
        "version": model_version.version,
        "base_url": model_version.base_url,
        "model_id": model_version.model_id,
        "generation_params": "{}",
        "api_secret": "",
        "status": ModelVersion.Status.ACTIVE,
    }
    assert staff_client.post(url, form).status_code == 302
    model_version.refresh_from_db()
    assert model_version.api_secret == "sk-very-secret-value"
    assert staff_client.post(url, {**form, "api_secret": "sk-rotated"}).status_code == 302
    model_version.refresh_from_db()
    assert model_version.api_secret == "sk-rotated"


def test_prompt_text_is_not_in_the_prompt_string_used_by_logs_and_breadcrumbs():
    prompt = PromptFactory.create(text="MARKER-PRIVATE-TEXT", external_id="p-1")
    assert "MARKER" not in str(prompt)


def test_non_staff_users_are_sent_to_the_admin_login(client):
    client.force_login(UserFactory.create(is_staff=False))
    response = client.get(reverse("admin:seal_prompt_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
