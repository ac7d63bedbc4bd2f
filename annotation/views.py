"""Annotator and reviewer workspaces: thin views over the services and selectors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from annotation.forms import RatingForm, ReviewForm
from annotation.models import AnnotatorProfile
from annotation.selectors import (
    annotator_comparison_screen,
    annotator_history,
    annotator_profile_for,
    annotator_queue_counts,
    landing_url,
    review_next_id,
    review_queue,
    review_screen,
)
from annotation.services import (
    assignment_draft_save,
    assignment_next,
    assignment_skip,
    rating_submit,
    review_approve,
    review_reject,
)
from seal.errors import ApplicationError

View = Callable[..., HttpResponse]

REVIEW_PAGE_SIZE = 50


def annotator_required(view: View) -> View:
    """Logged in with a vetted (or qualifying) annotator profile; everyone else gets 403.

    Never stored by a browser or proxy (Cache-Control: no-store): these pages show private
    prompts and answers; so do the reviewers' (below) and the admin's (Django marks them)."""

    @never_cache
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        profile = annotator_profile_for(request.user)
        if profile is None or not profile.can_rate:
            raise PermissionDenied("The annotation workspace is for vetted annotators")
        return view(request, profile, *args, **kwargs)

    return wrapper


def reviewer_required(view: View) -> View:
    """Logged in as a vetted reviewer of the layer in the URL; everyone else gets 403; never
    stored (private prompts and answers)."""

    @never_cache
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, layer: int = 0, **kwargs: Any) -> HttpResponse:
        profile = annotator_profile_for(request.user)
        if profile is None or not profile.reviews_layer(layer):
            raise PermissionDenied("The review workspace is for vetted reviewers of this layer")
        return view(request, profile, *args, layer=layer, **kwargs)

    return wrapper


_login_slots: threading.BoundedSemaphore | None = None
LOGIN_RETRY_AFTER_SECONDS = 5
_login_slots_lock = threading.Lock()


def _login_slots_get() -> threading.BoundedSemaphore:
    global _login_slots  # one per process, made on the first login
    with _login_slots_lock:
        if _login_slots is None:
            _login_slots = threading.BoundedSemaphore(max(1, settings.SEAL_LOGIN_CONCURRENCY))
        return _login_slots


class LoginView(auth_views.LoginView):
    """Django's login; a safe `next` still wins, otherwise each person starts where they work."""

    def get_default_redirect_url(self) -> str:
        return landing_url(self.request.user)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A password check is CPU by design (argon2id about 0.02 s, a not yet re-hashed PBKDF2
        # one 0.2-0.5 s). When a room of annotators logs in at once, checks running side by side
        # on a few cores all finish late together and starve every other request; a few at a
        # time per process finish in turn, and the logins waiting here cost no CPU.
        slots = _login_slots_get()
        # The wait is bounded so that a burst never holds every web thread: past it the person
        # gets the form back with a 503 and Retry-After, and the thread serves others.
        if not slots.acquire(timeout=float(settings.SEAL_LOGIN_WAIT_SECONDS)):
            return self._busy(request)
        try:
            return super().post(request, *args, **kwargs)
        finally:
            slots.release()

    def _busy(self, request: HttpRequest) -> HttpResponse:
        """The login form again (username kept, no password), saying to try in a few seconds."""
        form = self.get_form_class()(request, initial={"username": request.POST.get("username")})
        context = self.get_context_data(form=form, busy=True)
        response = self.render_to_response(context, status=503)
        response["Retry-After"] = str(LOGIN_RETRY_AFTER_SECONDS)
        return response


@annotator_required
def work_home(request: HttpRequest, profile: AnnotatorProfile) -> HttpResponse:
    context = {"profile": profile, "counts": annotator_queue_counts(profile=profile)}
    return render(request, "annotation/work_home.html", context)


def _open_next_comparison(request: HttpRequest, profile: AnnotatorProfile) -> HttpResponse:
    """The annotator's next comparison, or the workspace (with why) when none is waiting."""
    try:
        assignment = assignment_next(profile=profile)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("annotation:work_home")
    if assignment is None:
        messages.info(request, "No comparison in your expertise is waiting right now.")
        return redirect("annotation:work_home")
    return redirect("annotation:comparison", assignment_id=assignment.pk)


@require_POST
@annotator_required
def work_next(request: HttpRequest, profile: AnnotatorProfile) -> HttpResponse:
    return _open_next_comparison(request, profile)


def _draft_from_post(request: HttpRequest) -> dict[str, Any]:
    # Issue tags are multi-valued (QueryDict.dict() would keep only the last one ticked).
    return {
        key: values if key.startswith("tags_") else values[-1]
        for key, values in request.POST.lists()
        if key != "action"
    }


@require_http_methods(["GET", "POST"])
@annotator_required
def comparison(request: HttpRequest, profile: AnnotatorProfile, assignment_id: int) -> HttpResponse:
    screen = annotator_comparison_screen(profile=profile, assignment_id=assignment_id)
    if screen is None:
        raise Http404("No such comparison in your work")
    form = RatingForm(request.POST or None, rubric=screen.rubric, initial=screen.draft)
    if request.method == "POST":
        action = request.POST.get("action", "submit")
        # The page's autosave posts the draft with fetch and reads a JSON answer.
        wants_json = "application/json" in request.headers.get("Accept", "")
        try:
            if action == "skip":
                assignment_skip(assignment_id=assignment_id, profile=profile)
                messages.info(request, "Skipped; it goes to another annotator.")
                return _open_next_comparison(request, profile)
            if action == "draft":
                saved = assignment_draft_save(
                    assignment_id=assignment_id, profile=profile, draft=_draft_from_post(request)
                )
                if wants_json:
                    return JsonResponse({"saved": True, "draft": saved.draft})
                messages.success(request, "Draft saved.")
                return redirect("annotation:comparison", assignment_id=assignment_id)
            if form.is_valid():
                rating_submit(
                    assignment_id=assignment_id, profile=profile, rating=form.rating_input()
                )
                messages.success(request, "Rating submitted for review.")
                return _open_next_comparison(request, profile)
        except ApplicationError as exc:
            if wants_json:
                return JsonResponse({"saved": False, "error": exc.message}, status=409)
            form.add_service_errors(exc.field_errors)
            messages.error(request, exc.message)
            if not exc.field_errors:
                return redirect("annotation:work_home")
    # Every successful POST redirected; a POST that lands here carries form errors.
    status = 400 if request.method == "POST" else 200
    return render(
        request, "annotation/comparison.html", {"screen": screen, "form": form}, status=status
    )


@annotator_required
def work_history(request: HttpRequest, profile: AnnotatorProfile) -> HttpResponse:
    return render(request, "annotation/history.html", {"rows": annotator_history(profile=profile)})


@reviewer_required
def review_home(request: HttpRequest, profile: AnnotatorProfile, layer: int = 0) -> HttpResponse:
    layers = [
        (n, review_queue(reviewer=profile, layer=n).count())
        for n in (1, 2)
        if profile.reviews_layer(n)
    ]
    return render(request, "annotation/review_home.html", {"layers": layers})


@reviewer_required
def review_list(request: HttpRequest, profile: AnnotatorProfile, layer: int) -> HttpResponse:
    # get_page: a missing, malformed or too-large page number lands on the first or last page.
    page = Paginator(review_queue(reviewer=profile, layer=layer), REVIEW_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    links = page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1)
    context = {"page": page, "page_links": links, "layer": layer}
    return render(request, "annotation/review_queue.html", context)


@require_http_methods(["GET", "POST"])
@reviewer_required
def review_item(
    request: HttpRequest, profile: AnnotatorProfile, assignment_id: int, layer: int
) -> HttpResponse:
    screen = review_screen(reviewer=profile, layer=layer, assignment_id=assignment_id)
    if screen is None:
        raise Http404("This rating is not in your review queue")
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            if form.cleaned_data["decision"] == "approve":
                review_approve(assignment_id=assignment_id, reviewer=profile, layer=layer)
                messages.success(request, "Approved.")
            else:
                review_reject(
                    assignment_id=assignment_id,
                    reviewer=profile,
                    layer=layer,
                    reason=form.cleaned_data["reason"],
                )
                messages.success(request, "Rejected; the slot is open again.")
            # Decide and go on: the next rating in the queue, or the queue when none is left.
            following = review_next_id(reviewer=profile, layer=layer, after_id=assignment_id)
            if following is None:
                return redirect("annotation:review_list", layer=layer)
            return redirect("annotation:review_item", layer=layer, assignment_id=following)
        except ApplicationError as exc:
            for name, errors in exc.field_errors.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
            messages.error(request, exc.message)
    context = {
        "review": screen,
        "form": form,
        "next_id": review_next_id(reviewer=profile, layer=layer, after_id=assignment_id),
    }
    return render(request, "annotation/review_item.html", context)
