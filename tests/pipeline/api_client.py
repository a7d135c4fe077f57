"""What the pipeline's API tests share: tokens and a client for /api/projects/noir_city."""

from __future__ import annotations

import json

import pytest

from projects.services.tokens import create_token


@pytest.fixture
def token(user):
    return create_token(user=user, name="script", scopes=["write"]).plaintext


@pytest.fixture
def read_token(user):
    return create_token(user=user, name="reader").plaintext


@pytest.fixture
def api(client, token):
    """get(path) / post(path, body) with the write token, against /api/projects/noir_city."""

    class Api:
        def get(self, path: str, **query):
            return client.get(f"/api/projects/noir_city{path}", query, **bearer(token))

        def post(self, path: str, body=None, *, as_token: str | None = None, raw=None):
            data = raw if raw is not None else json.dumps(body or {})
            return client.post(
                f"/api/projects/noir_city{path}",
                data,
                content_type="application/json",
                **bearer(as_token or token),
            )

    return Api()


def bearer(plaintext: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]
