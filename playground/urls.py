from django.contrib import admin
from django.urls import path

from playground import views
from playground.api.v1 import api

urlpatterns = [
    path("", views.home, name="home"),
    path("v1/", api.urls),
    path("admin/", admin.site.urls),
]
