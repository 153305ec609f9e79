"""TMF630 attribute filters are query parameters the documents do not declare: expected, never an ERROR line.

Connexion logs "Function argument … not defined in specification" at ERROR when a handler could take a query
parameter its operation does not declare. Handlers take only what their documents declare (no `**kwargs`), so a
filter never gets there; logs.DropUndeclaredParameter drops the record for the odd parameter that shares a
handler argument's name. docs/decisions/0043-undeclared-query-parameters-are-not-errors.md
"""

from __future__ import annotations

import importlib
import inspect
import logging

import connexion.decorators.parameter
import pytest

from tmfserver.logs import UNDECLARED_PARAMETER, UNDECLARED_PARAMETER_LOGGER
from tmfserver.registry import SERVED

from ._support import CARTS, ORDERS


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "query",
    [
        "state=acknowledged&orderItem.state=completed&description.regex=a&fields=id,state&limit=5",
        "externalId=x&orderDate.gt=2020-01-01T00:00:00Z&offset=0",
    ],
)
def test_a_filtered_list_logs_no_error(client, caplog, query: str) -> None:
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"{ORDERS}?{query}")
    assert response.status_code == 200, response.text
    assert _errors(caplog) == []


def test_an_undeclared_parameter_named_like_a_handler_argument_logs_no_error(client, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        created = client.post(f"{CARTS}?fields=id", json={"cartItem": [{"id": "1", "quantity": 1}]})
        read = client.get(f"{CARTS}/{created.json()['id']}?id=x")
    assert (created.status_code, read.status_code) == (201, 200)
    assert _errors(caplog) == []


def test_the_dropped_record_is_connexions() -> None:
    """The filter matches Connexion's exact template on its own logger: a reworded Connexion fails here."""
    source = inspect.getsource(connexion.decorators.parameter)
    assert f'"{UNDECLARED_PARAMETER}"' in source
    assert connexion.decorators.parameter.logger.name == UNDECLARED_PARAMETER_LOGGER


def test_handlers_take_only_declared_parameters() -> None:
    """No handler of a served document takes `**kwargs` (Connexion would hand it every filter)."""
    modules = {name for api in SERVED for document in api.documents for name in document.handlers}
    assert modules
    for module in sorted(modules):
        for name, function in inspect.getmembers(importlib.import_module(module), inspect.isfunction):
            if function.__module__ != module:
                continue
            kinds = [p.kind for p in inspect.signature(function).parameters.values()]
            assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{module}.{name}"
