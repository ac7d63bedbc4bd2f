"""The project's URLs plus a trivial view: the same middleware as every page, but no database and
no template. It is the ceiling the domain page is measured against."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/trivial/", trivial), path("", include("seal.urls"))]
