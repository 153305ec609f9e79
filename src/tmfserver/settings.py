"""The one typed settings object. Nothing else in the project reads os.environ.

`HOST`, `PORT` and `DATABASE_URL` keep their conventional names; every other setting is `TMF_<NAME>`. Values
come from the environment, then from an optional `.env` file (see `load_settings`), then the defaults below.
Each field's `description` is the settings table of docs/operating.md (`tmfserver check-config --table`
prints it).
"""

from __future__ import annotations

from functools import cached_property
from ipaddress import ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


def _aliased(name: str) -> AliasChoices:
    return AliasChoices(name, f"TMF_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TMF_", extra="ignore", frozen=True, env_file=None, env_file_encoding="utf-8"
    )

    host: str = Field("127.0.0.1", validation_alias=_aliased("HOST"), description="address to listen on")
    port: int = Field(8080, ge=1, le=65535, validation_alias=_aliased("PORT"), description="port to listen on")
    database_url: str = Field(
        "sqlite:///./var/tmfserver.db",
        validation_alias=_aliased("DATABASE_URL"),
        description="SQLAlchemy URL: `sqlite:///path` or `postgresql+psycopg://user:pw@host/db`",
    )

    public_base_url: str = Field("", description="scheme+host for `href`/`Location`; empty: from the request")
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="peers (addresses or networks, comma-separated) whose `X-Forwarded-*` count",
    )

    default_limit: int = Field(100, ge=1, description="page size when `limit` is absent")
    max_limit: int = Field(1000, ge=1, description="larger `limit` values are clamped to this")
    max_body_bytes: int = Field(1_000_000, ge=1, description="larger request bodies → 413")
    max_query_length: int = Field(4096, ge=1, description="longer query strings → 414")
    max_filter_conditions: int = Field(20, ge=1, description="more attribute filters → 400")
    max_regex_length: int = Field(200, ge=1, description="longer `*=` regular expressions → 400")
    max_json_depth: int = Field(32, ge=1, description="deeper request bodies → 400")
    max_array_items: int = Field(1000, ge=1, description="longer arrays anywhere in a body → 400")
    max_string_length: int = Field(10_000, ge=1, description="longer strings (or member names) in a body → 400")

    # HTTP connections: enforced while uvicorn reads a request (web/http_limits.py, serving.py).
    max_request_line_bytes: int = Field(
        8192, ge=256, le=65_535, description="longer request URLs (path and query string, as sent) → 414"
    )
    max_header_bytes: int = Field(
        16_384, ge=1024, description="larger header sections (all header lines together, in bytes) → 431"
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a request's headers must have arrived this long after its first byte (or the connection) "
        "→ 408, connection closed",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="a request's body must have arrived this long after its headers → 408, connection closed",
    )
    keep_alive_timeout_seconds: float = Field(
        5.0, gt=0, description="an idle keep-alive connection is closed after this"
    )

    rate_limit_per_minute: int = Field(
        0,
        ge=0,
        description="per-client token bucket (also the burst), per process → 429; 0 = off",
    )

    auth_mode: Literal["none", "jwt", "apikey", "jwt+apikey"] = Field(
        "none", description="`none`, `jwt`, `apikey` or `jwt+apikey` (docs/operating.md, Security)"
    )
    auth_issuer: str = Field("", description="required `iss` of bearer JWTs")
    auth_audience: str = Field("", description="required `aud` of bearer JWTs")
    auth_jwks: str = Field("", description="JWKS: a file path or an http(s) URL")
    auth_algorithms: str = Field(
        "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512",
        description="accepted JWT signature algorithms (public-key only)",
    )
    auth_leeway_seconds: int = Field(30, ge=0, description="clock skew allowed on `exp`/`nbf`/`iat`")
    auth_api_keys: str = Field(
        "",
        description='secret. `key:scope scope,key2:scope` or JSON `{"key": "scope scope"}`; '
        "a key without scopes gets read+write",
    )
    auth_read_scope: str = Field("tmf.read", description="scope needed by GET/HEAD")
    auth_write_scope: str = Field("tmf.write", description="scope needed by POST/PATCH/DELETE")
    auth_realm: str = Field("tmfserver", description="realm in `WWW-Authenticate`")

    cors_origins: str = Field("", description="allowed CORS origins (comma-separated, or `*`); empty = off")
    cors_max_age_seconds: int = Field(600, ge=0, description="preflight cache lifetime")

    cart_lifetime_days: int = Field(30, ge=1, description="default cart `validFor` length")

    db_pool_size: int = Field(5, ge=1, description="connection pool per process (PostgreSQL)")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite `PRAGMA synchronous`: FULL keeps every acknowledged write through an OS crash or "
        "power failure; NORMAL is faster but may lose the last writes then (not on a process crash)",
    )
    postgresql_synchronous_commit: Literal["on", "off"] = Field(
        "on",
        description="PostgreSQL `synchronous_commit` of the server's connections: on waits for the WAL flush "
        "before a commit returns; off answers sooner but may lose the last acknowledged writes (up to ~3x "
        "wal_writer_delay) on a database server crash, never corrupting them",
    )
    db_max_overflow: int = Field(10, ge=0, description="extra connections beyond the pool (PostgreSQL)")
    # Database outages (docs/operating.md, "Database outages"; docs/decisions/0039-database-outage-is-a-503.md).
    db_connect_timeout_seconds: int = Field(
        5, ge=2, description="opening a PostgreSQL connection gives up after this (libpq minimum: 2)"
    )
    db_pool_timeout_seconds: float = Field(
        10.0, gt=0, description="a request waits this long for a free pooled connection, then 503"
    )
    db_retry_after_seconds: int = Field(
        5, ge=1, description="`Retry-After` of the 503 answered while the database is unavailable"
    )
    db_backoff_cap_seconds: float = Field(
        10.0,
        gt=0,
        description="longest pause of the dispatcher and the scheduler between attempts while the database "
        "is unavailable",
    )
    db_wait_seconds: float = Field(
        30.0,
        ge=0,
        description="`serve` and `migrate` wait this long for an unreachable database, then exit 1",
    )

    callback_allow_private: bool = Field(False, description="allow loopback/private callback addresses")
    delivery_timeout_seconds: float = Field(5.0, gt=0, description="one callback POST")
    delivery_max_attempts: int = Field(12, ge=1, description="attempts before a delivery is a dead letter")
    delivery_max_age_seconds: float = Field(86400.0, gt=0, description="age after which a delivery is dead")
    delivery_backoff_base_seconds: float = Field(1.0, gt=0, description="first retry delay (doubles, jittered)")
    delivery_backoff_cap_seconds: float = Field(300.0, gt=0, description="longest retry delay")
    background_workers: bool = Field(
        True, description="run the event dispatcher and the cancellation scheduler in each server process"
    )

    simulate_fulfilment: bool = Field(
        False, description="demo: move items acknowledged → inProgress → completed/failed"
    )
    simulate_step_seconds: float = Field(5.0, gt=0, description="demo simulator step")
    simulate_failure_rate: float = Field(0.1, ge=0, le=1, description="demo simulator share of failed items")

    # Idempotency-Key on POSTs that create (services/idempotency.py; docs/decisions/0041-idempotency-key.md).
    idempotency_retention_seconds: int = Field(
        86400,
        ge=0,
        description="an `Idempotency-Key` and its first response are kept this long; later the key is new "
        "again (expired keys are purged in the background)",
    )
    test_failpoint: Literal["", "exit-after-idempotent-commit"] = Field(
        "",
        description="test only: `exit-after-idempotent-commit` ends the process right after a keyed POST "
        "commits, before it answers (the crash test); never set in production",
    )

    validate_responses: bool = Field(False, description="validate responses against the documents (tests)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`"
    )

    # Log lines and graceful shutdown (tmfserver/logs.py, tmfserver/serving.py).
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="`json` (an object per line), `text` (readable), `auto`: text on a terminal, else json",
    )
    shutdown_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="on SIGTERM, how long requests in progress may still take before being cancelled",
    )
    worker_healthcheck_seconds: float = Field(
        10.0,
        gt=0,
        description="`serve --workers N`: a worker that leaves the supervisor's health check unanswered this "
        "long is killed and replaced (a dead one is replaced at once)",
    )

    # Health and metrics (/health/live, /health/ready, /metrics; tmfserver/metrics.py, web/health.py).
    metrics_dir: str = Field(
        "",
        description="directory for the metrics files of `serve --workers N` (N > 1), emptied at start; "
        "empty: a new temporary directory",
    )
    health_timeout_seconds: float = Field(
        0.5, gt=0, description="`/health/ready` answers 503 when the database takes longer than this"
    )

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except Exception as error:
            raise ValueError(f"not a database URL ({error})") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite and postgresql URLs are supported")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an address or network") from None
        return value

    @model_validator(mode="after")
    def _limits_agree(self) -> Settings:
        if self.default_limit > self.max_limit:
            raise ValueError(
                f"TMF_DEFAULT_LIMIT ({self.default_limit}) is larger than TMF_MAX_LIMIT ({self.max_limit})"
            )
        return self

    @cached_property
    def trusted_proxy_networks(self) -> tuple:
        return tuple(
            ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )


class SettingsError(Exception):
    """A setting could not be used; the message is one line naming it."""


def env_name(field: str) -> str:
    """The environment variable a field is read from (the first alias, else TMF_<NAME>)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"TMF_{field.upper()}"


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Settings from the environment and, when it exists, `env_file`; `SettingsError` names a bad one."""
    path = Path(env_file) if env_file else None
    try:
        return Settings(_env_file=path if path and path.is_file() else None)
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None


def field_of(location: str) -> str | None:
    """The field an error location names: a field name or one of its environment aliases."""
    if location in Settings.model_fields:
        return location
    return next((f for f in Settings.model_fields if env_name(f).lower() == location.lower()), None)


def describe_errors(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        field = field_of(str(problem["loc"][0])) if problem["loc"] else None
        if not field:
            parts.append(message)
        elif field in SECRET_FIELDS or field == "database_url":  # may hold a password: never echoed
            parts.append(f"{env_name(field)}: {message}")
        else:
            parts.append(f"{env_name(field)}={problem.get('input')!r}: {message}")
    return "invalid setting " + "; ".join(parts)


SECRET_FIELDS = frozenset({"auth_api_keys"})
MASK = "********"


def masked_value(settings: Settings, field: str) -> str:
    """A field's effective value as text, with secrets (API keys, a password in DATABASE_URL) masked."""
    value = getattr(settings, field)
    if field in SECRET_FIELDS:
        return MASK if value else ""
    if field == "database_url":
        return make_url(value).render_as_string(hide_password=True).replace("***", MASK)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
