"""The third API's handlers, named after its operationIds: each calls the generic operations."""

from __future__ import annotations

from tmfserver.api import operations

from .api import WIDGET_KIND


async def list_widget() -> tuple:
    return await operations.list_resources(WIDGET_KIND)


async def create_widget(widget: dict) -> tuple:
    return await operations.create_resource(WIDGET_KIND, widget)


async def retrieve_widget(id: str) -> tuple:
    return await operations.retrieve_resource(WIDGET_KIND, id)


async def patch_widget(id: str, widget: dict) -> tuple:
    return await operations.patch_resource(WIDGET_KIND, id, widget)


async def delete_widget(id: str) -> tuple:
    return await operations.delete_resource(WIDGET_KIND, id)
