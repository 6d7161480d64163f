import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up)

from playground.lifespan import lifespan_app  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "lifespan": lifespan_app})
