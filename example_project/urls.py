from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/django_imcallback/")),
    path("admin/", admin.site.urls),
    path("imcallback/", include("django_imcallback.urls")),
]
