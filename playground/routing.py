from django.urls import path

from playground.web.consumers import ExecutionConsumer, RevisionBuildConsumer

websocket_urlpatterns = [
    path("ws/executions/<str:execution_id>", ExecutionConsumer.as_asgi()),
    path("ws/revisions/<str:revision_id>", RevisionBuildConsumer.as_asgi()),
]
