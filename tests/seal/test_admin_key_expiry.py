"""A new lab key's expiry has one rule (LabAPIKey.expiry_problem): the service and the admin's
form both apply it and refuse with the same words."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from seal.errors import ApplicationError
from seal.models import LabAPIKey
from seal.services import lab_api_key_create
from tests.factories import LabFactory

pytestmark = pytest.mark.django_db

MESSAGE = "The expiry must be in the future."


def test_the_rule():
    now = timezone.now()
    assert LabAPIKey.expiry_problem(None) is None
    assert LabAPIKey.expiry_problem(now + timedelta(minutes=5)) is None
    assert LabAPIKey.expiry_problem(now - timedelta(seconds=1)) == MESSAGE


def test_the_service_and_the_admin_refuse_a_past_expiry_with_the_same_words(admin_client):
    lab = LabFactory.create()
    past = timezone.now() - timedelta(days=1)
    with pytest.raises(ApplicationError) as refused:
        lab_api_key_create(lab=lab, name="old", expires_at=past)
    assert refused.value.message == MESSAGE
    assert refused.value.field_errors == {"expires_at": [MESSAGE]}

    response = admin_client.post(
        reverse("admin:seal_labapikey_add"),
        {
            "lab": lab.pk,
            "name": "old",
            "expiry_date_0": past.strftime("%Y-%m-%d"),
            "expiry_date_1": past.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"expiry_date": [MESSAGE]}
    assert not LabAPIKey.objects.exists()


def test_an_issued_key_can_still_be_ended_by_moving_its_expiry_to_the_past(admin_client):
    key, _ = lab_api_key_create(lab=LabFactory.create(), name="ci")
    past = timezone.now() - timedelta(days=1)
    response = admin_client.post(
        reverse("admin:seal_labapikey_change", args=[key.pk]),
        {
            "name": "ci",
            "expiry_date_0": past.strftime("%Y-%m-%d"),
            "expiry_date_1": past.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.has_expired
