"""Fixtures of the API tests: settings in tmp_path, one key per role, an audit log, an app factory."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from riskcore.config import Settings
from riskcore.identity import KEY_ROLES, KeyStore
from riskcore.serving.audit import AuditLog


@pytest.fixture(scope="session")
def bundle(lgbm_bundle):
    """The model the API serves in these tests (LightGBM: native scoring and contributions)."""
    return lgbm_bundle


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with the keys file and audit database in tmp_path and a rate limit the tests never reach."""
    return Settings(home=tmp_path / "home", api_rate_limit=10_000)


@pytest.fixture
def keystore(settings: Settings) -> KeyStore:
    return KeyStore(settings.keys_file)


@pytest.fixture
def keys(keystore: KeyStore) -> dict[str, str]:
    """One key per role: role → secret."""
    return {role: keystore.add(role, f"test {role}")[1] for role in KEY_ROLES}


@pytest.fixture
def audit(settings: Settings) -> AuditLog:
    log = AuditLog.from_settings(settings)
    yield log
    log.close()


@pytest.fixture
def make_client(settings, bundle, keystore, keys, audit):
    """Build a TestClient; keyword arguments override settings fields, ``bundle``/``audit``/``keys_store``."""

    def make(*, bundle_: Any = bundle, audit_: Any = audit, raise_server_exceptions: bool = True,
             **overrides: Any) -> TestClient:
        app = create_app(replace(settings, **overrides), bundle=bundle_, keys=keystore, audit=audit_)
        return TestClient(app, raise_server_exceptions=raise_server_exceptions)

    return make


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


_COMPANY_EXAMPLES: list[dict[str, Any]] = []


@pytest.fixture
def company(client: TestClient) -> dict[str, Any]:
    """A valid company: the first example of the Company schema in the OpenAPI document.

    The document is the same for every app of the run (the schemas are the code's), so it is read once per
    process; each test gets its own copy to change.
    """
    if not _COMPANY_EXAMPLES:
        _COMPANY_EXAMPLES.append(client.get("/openapi.json").json()["components"]["schemas"]["Company"]["examples"][0])
    return copy.deepcopy(_COMPANY_EXAMPLES[0])
