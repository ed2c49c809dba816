from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from django_imcallback.urls import bare_url

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/django_imcallback/")),
    path("admin/", admin.site.urls),
    path("imcallback/", include("django_imcallback.urls")),
    bare_url("imcallback"),  # old servers post to the bare url, without the slash
]
