"""Who calls the API: the key behind its bearer token, and that key's owner."""

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from playground.models import ApiKey
from playground.runs import services


class ApiKeyAuth(HttpBearer):
    async def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        # The front door (or ApiBodyGuard) already looked the key up for POSTs.
        known: ApiKey | None = getattr(request, "sandpit_api_key", None)
        return known or await services.api_key_authenticate(key=token)


def owner_of(request: HttpRequest) -> Any:
    """The user whose key authenticated the request."""
    api_key: ApiKey = request.auth  # type: ignore[attr-defined]
    return api_key.owner
