"""What every page's header needs to know about the person: which workspaces to link to."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from annotation.models import AnnotatorProfile
from annotation.selectors import annotator_roles_for


class WorkspaceLinks:
    """The header's links, by the role rules the views enforce (`AnnotatorProfile.can_rate`,
    `.reviews_layer`); read only when a template asks, so a page without them queries nothing."""

    def __init__(self, request: HttpRequest) -> None:
        self._user = getattr(request, "user", None)

    @cached_property
    def _profile(self) -> AnnotatorProfile | None:
        if self._user is None:
            return None
        return annotator_roles_for(self._user)  # one query, on the first link asked for

    @cached_property
    def may_annotate(self) -> bool:
        return self._profile is not None and self._profile.can_rate

    @cached_property
    def may_review(self) -> bool:
        return self._profile is not None and self._profile.reviews_layer(0)


def workspace_links(request: HttpRequest) -> dict[str, Any]:
    """Template context: `workspaces.may_annotate` and `workspaces.may_review` for the header."""
    return {"workspaces": WorkspaceLinks(request)}
