"""Connexion's AsyncApp, with each operation's handler decorated once instead of on every request.

Connexion 3.3 rebuilds, for every request, the decorator stack around the handler (`ASGIDecorator.__call__`
calls `decorate(function)` inside its wrapper: the parameter and response decorators, `inspect.signature` of
the handler, four `functools.wraps`) and the operation's URI parser. Neither holds request state: the
decorated function takes the request as its argument, the parser only the operation's parameter
definitions. So each operation keeps one decorator, and it keeps what it built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion import AsyncApp
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.decorators import StarletteDecorator
from connexion.operations import AbstractOperation


class _OnceStarletteDecorator(StarletteDecorator):
    """One per operation (so `operation`, the request's, is always the same one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decorated: dict[Callable, Callable] = {}
        self._uri_parser: Any = None

    @property
    def uri_parser(self) -> Any:
        if self._uri_parser is None:
            self._uri_parser = super().uri_parser
        return self._uri_parser

    def decorate(self, function: Callable) -> Callable:
        decorated = self._decorated.get(function)
        if decorated is None:
            decorated = self._decorated[function] = super().decorate(function)
        return decorated


class _OnceDecoratedOperation(AsyncOperation):
    @functools.cached_property
    def fn(self) -> Callable:  # type: ignore[override]
        decorator = _OnceStarletteDecorator(pythonic_params=self.pythonic_params, jsonifier=self.jsonifier)
        return decorator(self._fn)


class _OnceDecoratedApi(AsyncApi):
    def make_operation(self, operation: AbstractOperation) -> AsyncOperation:
        return _OnceDecoratedOperation.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


# Why: docs/decisions/0050-handlers-decorated-once.md
class TmfAsyncApp(AsyncApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Instance attribute over AsyncASGIApp.api_cls: the APIs added to this app make the operations above.
        self._middleware_app.api_cls = _OnceDecoratedApi
