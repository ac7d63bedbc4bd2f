from django.urls import path, register_converter

from annotation import views


class ReviewLayerConverter:
    """Only the two review layers exist; any other number in a review URL is a 404."""

    regex = "[12]"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(ReviewLayerConverter, "review_layer")

app_name = "annotation"

urlpatterns = [
    path("work/", views.work_home, name="work_home"),
    path("work/next/", views.work_next, name="work_next"),
    path("work/comparisons/<int:assignment_id>/", views.comparison, name="comparison"),
    path("work/history/", views.work_history, name="history"),
    path("review/", views.review_home, name="review_home"),
    path("review/layer-<review_layer:layer>/", views.review_list, name="review_list"),
    path(
        "review/layer-<review_layer:layer>/<int:assignment_id>/",
        views.review_item,
        name="review_item",
    ),
]
