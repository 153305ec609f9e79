"""A client shared by every test of one module, for parametrized suites that each create their own data."""

from __future__ import annotations

import pytest

from tests.conftest import _empty_tables


@pytest.fixture(scope="module")
def shared_client(app):
    _empty_tables(app)
    with app.test_client() as test_client:
        yield test_client
