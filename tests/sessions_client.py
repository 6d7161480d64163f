"""/v1/sessions over raw HTTP (Riza's client has no sessions), for the session tests."""

from typing import Any

import httpx

from tests.conftest import LiveServer


class SessionsClient:
    """One owner's key on a live server, speaking /v1/sessions."""

    def __init__(self, server: LiveServer, key: str) -> None:
        self.key = key
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return (
            self.http.post(f"/v1{path}", json=body)
            if body is not None
            else self.http.post(f"/v1{path}")
        )

    def get(self, path: str) -> httpx.Response:
        return self.http.get(f"/v1{path}")

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(f"/v1{path}")

    def open(self, **body: Any) -> dict[str, Any]:
        answer = self.post("/sessions", {"language": "python", **body})
        assert answer.status_code == 201, answer.text
        opened: dict[str, Any] = answer.json()
        return opened

    def run(self, session_id: str, code: str, **body: Any) -> dict[str, Any]:
        answer = self.post(f"/sessions/{session_id}/execute", {"code": code, **body})
        assert answer.status_code == 200, answer.text
        ran: dict[str, Any] = answer.json()
        return ran

    def session(self, session_id: str) -> dict[str, Any]:
        answer = self.get(f"/sessions/{session_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


def plain(call: dict[str, Any]) -> list[str]:
    """The text/plain of each result of a call."""
    return [result["data"]["text/plain"] for result in call["results"]]


def error_code(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]
