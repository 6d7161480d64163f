"""/v1/secrets: values runs use and nobody reads back (Riza's shapes)."""

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field, StrictStr

from playground.api.auth import owner_of
from playground.api.errors import ERROR_RESPONSES, ApiError
from playground.api.responses import DeletedOut, PageQuery
from playground.api.schemas import StrictSchema
from playground.models import Secret
from playground.secrets import vault

router = Router(tags=["secrets"])
ERRORS = ERROR_RESPONSES


class SecretIn(StrictSchema):
    name: Annotated[StrictStr, Field(min_length=1, max_length=vault.MAX_NAME_CHARS)]
    value: StrictStr


class SecretOut(Schema):
    id: str
    name: str


class SecretListOut(Schema):
    secrets: list[SecretOut]


@router.post("/secrets", response={200: SecretOut, **ERRORS}, summary="Create a secret")
async def create_secret(request: HttpRequest, body: SecretIn) -> dict[str, Any]:
    secret = await vault.secret_create(owner=owner_of(request), name=body.name, value=body.value)
    return {"id": secret.id, "name": secret.name}


@router.get("/secrets", response={200: SecretListOut, **ERRORS}, summary="List secrets")
async def list_secrets(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    found = await vault.secret_list(
        owner=owner_of(request), limit=query.limit, starting_after=query.starting_after
    )
    return {"secrets": [{"id": s.id, "name": s.name} for s in found]}


@router.delete(
    "/secrets/{secret_id}", response={200: DeletedOut, **ERRORS}, summary="Delete a secret"
)
async def delete_secret(request: HttpRequest, secret_id: str) -> dict[str, Any]:
    secret = await Secret.objects.filter(owner=owner_of(request), id=secret_id).afirst()
    if secret is None:
        raise ApiError(404, "not_found", f"no secret {secret_id!r} exists for this key's owner")
    await vault.secret_delete(secret=secret)
    return {"id": secret_id, "deleted": True}
