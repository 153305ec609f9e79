"""The third API's handlers, named after its operationIds: each calls the generic operations."""

from __future__ import annotations

from tmfserver.api import operations

from .api import WIDGET_KIND


def list_widget() -> tuple:
    return operations.list_resources(WIDGET_KIND)


def create_widget(widget: dict) -> tuple:
    return operations.create_resource(WIDGET_KIND, widget)


def retrieve_widget(id: str) -> tuple:
    return operations.retrieve_resource(WIDGET_KIND, id)


def patch_widget(id: str, widget: dict) -> tuple:
    return operations.patch_resource(WIDGET_KIND, id, widget)


def delete_widget(id: str) -> tuple:
    return operations.delete_resource(WIDGET_KIND, id)
