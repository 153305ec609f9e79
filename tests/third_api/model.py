"""The third API's stored resource. Its own metadata: the project's migrations know nothing of it, so the
test creates its table (in production this would be an Alembic revision)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from tmfserver.store.models import ResourceMixin


class WidgetBase(DeclarativeBase):
    pass


class Widget(ResourceMixin, WidgetBase):
    __tablename__ = "test_widget"
    resource_type = "widget"
