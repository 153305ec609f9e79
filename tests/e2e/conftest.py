"""Tier `e2e`: the API as a client sees it, over HTTP through the in-process app (`client`, `shared_client`:
Connexion's TestClient, no socket) on the suite's database. In `make test-fast`, except tests that start
`tmfserver serve` or an HTTP server of their own (`live`, found in their code by tests/conftest.py) and the
matrices listed `slow` there.

A client shared by every test of one module, for parametrized suites that each create their own data."""

from __future__ import annotations

import pytest

from tests.conftest import _empty_tables


@pytest.fixture(scope="module")
def shared_client(app):
    _empty_tables(app)
    with app.test_client() as test_client:
        yield test_client
