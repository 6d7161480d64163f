from django.urls import path

from playground.consumers import ExecutionConsumer

websocket_urlpatterns = [
    path("ws/executions/<str:execution_id>", ExecutionConsumer.as_asgi()),
]
