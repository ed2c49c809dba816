from django.contrib import admin
from django.urls import include, path

from django_imcallback.urls import bare_url

urlpatterns = [
    path("admin/", admin.site.urls),
    path("imcallback/", include("django_imcallback.urls")),
    bare_url("imcallback"),  # as the README's install section mounts it
]
