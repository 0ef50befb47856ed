"""Helpers shared by the API tests."""

from __future__ import annotations


def header(secret: str) -> dict[str, str]:
    return {"X-API-Key": secret}


def assert_clean(response, *forbidden: str) -> None:
    """An error body is JSON with a request id and holds no stack trace or file path."""
    text = response.text
    body = response.json()
    assert "request_id" in body or "ready" in body
    for bad in ("Traceback", 'File "', ".py", "/tmp", "site-packages", *forbidden):
        assert bad not in text, f"{bad!r} leaked in {text[:300]}"
