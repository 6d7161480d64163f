import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django_asgi_app = get_asgi_application()

# These need Django set up first.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from playground.cluster.lifespan import lifespan_app  # noqa: E402
from playground.front_door import FrontDoor  # noqa: E402
from playground.mcp.server import PATH as MCP_PATH  # noqa: E402
from playground.mcp.server import mcp_endpoint  # noqa: E402
from playground.routing import websocket_urlpatterns  # noqa: E402


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """/mcp to the MCP endpoint; everything else to Django."""
    path = scope["path"].rstrip("/")
    if path == MCP_PATH:
        await mcp_endpoint(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": FrontDoor(http_app),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
        "lifespan": lifespan_app,
    }
)
