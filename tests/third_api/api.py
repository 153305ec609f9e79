"""The third API's registry entry: its document, its resource, its handler modules."""

from __future__ import annotations

from pathlib import Path

from tmfserver.registry import Api, Document
from tmfserver.services.resources import ResourceKind

from .model import Widget

WIDGET_KIND = ResourceKind(model=Widget, definition="Widget")

WIDGET_API = Api(
    name="TMF999",
    documents=(
        Document(
            "TMF999",
            handlers=("tests.third_api.handlers", "tmfserver.api.hub"),
            path=Path(__file__).with_name("widget.swagger.json"),
        ),
    ),
    resources=(WIDGET_KIND,),
)
