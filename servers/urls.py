from django.urls import path

from servers import views

urlpatterns = [
    path("", views.server_list, name="server-list"),
]
