from django.urls import path

from annotation import views

app_name = "annotation"

urlpatterns = [
    path("work/", views.work_home, name="work_home"),
    path("work/next/", views.work_next, name="work_next"),
    path("work/comparisons/<int:assignment_id>/", views.comparison, name="comparison"),
    path("work/history/", views.work_history, name="history"),
    path("review/", views.review_home, name="review_home"),
    path("review/layer-<int:layer>/", views.review_list, name="review_list"),
    path("review/layer-<int:layer>/<int:assignment_id>/", views.review_item, name="review_item"),
]
