"""What the services need from the running application, built once by `tmfserver.bootstrap`."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..settings import Settings
from ..store.errors import DatabaseUnavailable
from ..store.unit_of_work import UnitOfWork, unit_of_work
from .exceptions import Unavailable

if TYPE_CHECKING:
    from ..query.projection import RequiredKeys
    from ..store.execution import Execution
    from .representations import Representation

T = TypeVar("T")


@dataclass(frozen=True)
class Placement:
    """Where a resource is served and what its served document says about it (from the registry)."""

    api: str  # the API it belongs to: key of hub subscriptions and outbox rows ("TMF652")
    base_path: str  # read from the API's document ("/tmf-api/resourceOrderingManagement/v4")
    # Validates a whole stored document against the resource's definition (checks a patched document).
    validator: Any = None
    # What the definition requires at each level: `fields` selections keep it.
    required: RequiredKeys | None = None
    # How this API shows the stored resource and reads it back (None: as stored).
    representation: Representation | None = None


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # Resource name ("resourceOrder") → where it is served: one placement per API exposing it, the API that
    # first served it first (TMF663 v4 before v5 for "shoppingCart").
    placements: Mapping[str, tuple[Placement, ...]] = field(default_factory=dict)
    # Where the request handlers' service calls run (store/execution.py); None: in the caller's thread.
    execution: Execution | None = None

    async def read(self, job: Callable[[Dependencies], T]) -> T:
        """`job(deps)` for an async handler, without blocking the event loop on the database; `job` only
        reads (on SQLite it runs on the loop's thread, never in the writer)."""
        return await self._run(job, write=False)

    async def write(self, job: Callable[[Dependencies], T]) -> T:
        """`job(deps)` for an async handler: on SQLite in the process's writer, answered once committed."""
        return await self._run(job, write=True)

    async def _run(self, job: Callable[[Dependencies], T], *, write: bool) -> T:
        with self.database():
            if self.execution is None:
                return job(self)
            jobs_deps = self._jobs_deps
            return await self.execution.run(lambda: job(jobs_deps), write=write)

    @functools.cached_property
    def _jobs_deps(self) -> Dependencies:
        """These dependencies as a job sees them: with the execution's engine where it has its own."""
        execution = self.execution
        if execution is None or execution.engine is None:
            return self
        return dataclasses.replace(self, engine=execution.engine, sessions=execution.sessions, execution=None)

    @contextmanager
    def unit_of_work(self, *, write: bool) -> Iterator[UnitOfWork]:
        with self.database(), unit_of_work(self.sessions, write=write) as uow:
            yield uow

    @contextmanager
    def database(self) -> Iterator[None]:
        """Around any use of the database by a service: an outage (the store's `DatabaseUnavailable`) leaves
        as `Unavailable`, with the advice of TMF_DB_RETRY_AFTER_SECONDS."""
        try:
            yield
        except DatabaseUnavailable as error:
            raise Unavailable(error.detail, self.settings.db_retry_after_seconds) from error

    def placement(self, resource: str, api: str | None = None) -> Placement:
        """Where `resource` is served by `api` (by default: by the API that first served it)."""
        placements = self.placements[resource]
        if api is None:
            return placements[0]
        for placement in placements:
            if placement.api == api:
                return placement
        raise KeyError(f"{api} does not serve {resource}")

    def api_at(self, path: str) -> str | None:
        """The API whose base path `path` is under (hub and listener requests are the same for every API)."""
        for placements in self.placements.values():
            for placement in placements:
                if path.startswith(placement.base_path + "/"):
                    return placement.api
        return None
