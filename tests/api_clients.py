"""Riza's client for the API tests: two owners on the live server, and raw requests."""

import httpx
import pytest
import rizaio

from tests.conftest import LiveServer


@pytest.fixture(scope="session")
def alice(sandpit_server: LiveServer) -> rizaio.Riza:
    return rizaio.Riza(
        api_key=sandpit_server.new_api_key("alice"), base_url=sandpit_server.url, max_retries=0
    )


@pytest.fixture(scope="session")
def bob(sandpit_server: LiveServer) -> rizaio.Riza:
    return rizaio.Riza(
        api_key=sandpit_server.new_api_key("bob"), base_url=sandpit_server.url, max_retries=0
    )


def raw_post(client: rizaio.Riza, path: str, content: bytes) -> httpx.Response:
    return httpx.post(
        str(client.base_url).rstrip("/") + path,
        content=content,
        headers={"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"},
        timeout=60,
    )


def raw_get(client: rizaio.Riza, path: str) -> httpx.Response:
    return httpx.get(
        str(client.base_url).rstrip("/") + path,
        headers={"Authorization": f"Bearer {client.api_key}"},
    )
