"""A test client for the JSON API: a bearer token, JSON bodies, the project's base path."""

from __future__ import annotations

import json


class Api:
    """The test client with a bearer token, JSON bodies and the project's base path."""

    def __init__(self, client, token: str, slug: str) -> None:
        self.client, self.base = client, f"/api/projects/{slug}"
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def get(self, path: str):
        return self.client.get(self.base + path, **self.headers)

    def delete(self, path: str):
        return self.client.delete(self.base + path, **self.headers)

    def post(self, path: str, body: dict | None = None):
        data = json.dumps(body or {})
        return self.client.post(self.base + path, data, "application/json", **self.headers)

    def patch(self, path: str, body: dict):
        data = json.dumps(body)
        return self.client.patch(self.base + path, data, "application/json", **self.headers)


def error_of(response) -> dict:
    return response.json()["error"]
