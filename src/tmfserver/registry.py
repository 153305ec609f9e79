"""What this server serves: each API once, with its documents, handler modules and stored resources.

Adding an API is an entry here (or in the list a caller hands to `bootstrap.wire`): the pin of its official
document, the resources it exposes (services/*.py `ResourceKind`s, each with its model and migration) and
the handler modules its operationIds resolve to. Base paths come from the documents themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .services.carts import CART_AS_V4, CART_AS_V5, CART_KIND
from .services.orders import CANCEL_KIND, ORDER_KIND
from .services.representations import AS_STORED, Representation
from .services.resources import ResourceKind
from .specbuild import OPENAPI_DIR

EXTENSIONS_DIR = OPENAPI_DIR / "extensions"


@dataclass(frozen=True)
class Document:
    """One document mounted with Connexion, and the modules whose functions its operationIds name."""

    name: str  # the pin's name ("TMF652") or a project extension's ("TMF652-extensions")
    handlers: tuple[str, ...]  # dotted module names, searched in order
    path: Path | None = None  # None: openapi/extensions/<name>.json if there, else the pinned build

    @property
    def is_extension(self) -> bool:
        return self.path is None and (EXTENSIONS_DIR / f"{self.name}.json").is_file()


@dataclass(frozen=True)
class Exposed:
    """A stored resource as one API exposes it: the same `ResourceKind` (model, rules, pricing) may be
    exposed by several APIs, each with its own representation (e.g. TMF663 v4 and v5 on the same carts)."""

    kind: ResourceKind
    representation: Representation = AS_STORED
    definition: str | None = None  # its schema in this API's document (default: kind.definition)

    @property
    def schema(self) -> str:
        return self.definition or self.kind.definition


@dataclass(frozen=True)
class Api:
    # The API's name: key of its hub subscriptions, outbox rows and received events.
    name: str
    # Mounted in this order. Documents sharing a basePath: later ones win for Swagger UI, and the operations
    # of all of them stay routable, so extension documents come first.
    documents: tuple[Document, ...]
    # A kind alone is exposed as stored; `Exposed` names its representation in this API.
    resources: tuple[ResourceKind | Exposed, ...]

    @property
    def exposed(self) -> tuple[Exposed, ...]:
        return tuple(r if isinstance(r, Exposed) else Exposed(r) for r in self.resources)


HANDLERS = "tmfserver.api."

TMF652 = Api(
    name="TMF652",
    documents=(
        Document("TMF652-extensions", (HANDLERS + "state_history",)),
        Document(
            "TMF652",
            tuple(HANDLERS + m for m in ("resource_order", "cancel_resource_order", "hub", "listener")),
        ),
    ),
    resources=(ORDER_KIND, CANCEL_KIND),
)

TMF663 = Api(
    name="TMF663",
    documents=(Document("TMF663", tuple(HANDLERS + m for m in ("shopping_cart", "hub", "listener"))),),
    resources=(Exposed(CART_KIND, CART_AS_V4),),
)

# v5.0.0 beside v4, on the same stored carts (docs/decisions/0038-one-store-two-representations.md).
TMF663_V5 = Api(
    name="TMF663-v5",
    documents=(Document("TMF663-v5", tuple(HANDLERS + m for m in ("shopping_cart", "hub", "listener"))),),
    resources=(Exposed(CART_KIND, CART_AS_V5),),
)

SERVED: tuple[Api, ...] = (TMF652, TMF663, TMF663_V5)


def find_document(name: str, apis: tuple[Api, ...] = SERVED) -> Document:
    for api in apis:
        for document in api.documents:
            if document.name == name:
                return document
    raise KeyError(name)
