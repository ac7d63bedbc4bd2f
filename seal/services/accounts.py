"""Accounts: deactivating a user, the demo logins."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone


def demo_user_upsert(*, username: str, password_hash: str, is_staff: bool = False) -> User:
    """Create a demo login, or reset it, with a password hashed once for all demo accounts."""
    user, _ = User.objects.update_or_create(
        username=username,
        defaults={"password": password_hash, "is_staff": is_staff, "is_superuser": is_staff},
    )
    return user


def user_deactivate(*, user: User) -> int:
    """Deactivate an account and end its sessions; returns how many sessions were ended.

    Django already refuses an inactive user on their next request; deleting the sessions as well
    means reactivating the account later does not bring an old, possibly stolen, session back.
    """
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        # Sessions keep the user id inside their encoded data: each live one is decoded to look.
        ended = [
            session.pk
            for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if session.get_decoded().get("_auth_user_id") == str(user.pk)
        ]
        Session.objects.filter(pk__in=ended).delete()
    return len(ended)
