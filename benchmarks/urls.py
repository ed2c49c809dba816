from django.contrib import admin
from django.urls import include, path

from .floor import floor_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("floor/<str:command>", floor_view),
    path("imcallback/", include("django_imcallback.urls")),
]
