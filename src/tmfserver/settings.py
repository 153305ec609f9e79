"""The one typed settings object. Nothing else in the project reads os.environ.

`HOST`, `PORT` and `DATABASE_URL` keep their conventional names; every other setting is `TMF_<NAME>`.
"""

from __future__ import annotations

from functools import cached_property
from ipaddress import ip_network
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TMF_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", validation_alias=AliasChoices("HOST", "TMF_HOST"))
    port: int = Field(8080, validation_alias=AliasChoices("PORT", "TMF_PORT"))
    database_url: str = Field(
        "sqlite:///./var/tmfserver.db",
        validation_alias=AliasChoices("DATABASE_URL", "TMF_DATABASE_URL"),
    )

    # Public base URL for href/Location (e.g. https://api.example.com). Empty: derived per request.
    public_base_url: str = ""
    # Peers whose X-Forwarded-Proto/-Host are believed (comma-separated addresses or networks).
    trusted_proxies: str = "127.0.0.1,::1"

    default_limit: int = 100
    max_limit: int = 1000
    max_body_bytes: int = 1_000_000
    max_query_length: int = 4096
    max_filter_conditions: int = 20
    max_regex_length: int = 200
    max_json_depth: int = 32
    max_array_items: int = 1000  # any JSON array in a request body (order items, cart items, notes…)
    max_string_length: int = 10_000  # any JSON string (value or member name) in a request body, in characters

    # Per-client token bucket (requests per minute, also the burst); 0 = off. In memory, per process: with
    # N worker processes a client gets up to N times this. Behind trusted_proxies, X-Forwarded-For names
    # the client.
    rate_limit_per_minute: int = 0

    # Authentication (see README "Security"): none | jwt | apikey | jwt+apikey.
    auth_mode: Literal["none", "jwt", "apikey", "jwt+apikey"] = "none"
    auth_issuer: str = ""  # required `iss` of bearer JWTs
    auth_audience: str = ""  # required `aud` of bearer JWTs
    auth_jwks: str = ""  # JWKS: a file path or an http(s) URL
    auth_algorithms: str = "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512"
    auth_leeway_seconds: int = 30  # clock skew allowed on exp/nbf/iat
    # Static API keys (header X-API-Key): `key:scope scope,key2:scope` or a JSON object {"key": "scope scope"}.
    # A key listed without scopes gets the read and the write scope.
    auth_api_keys: str = ""
    auth_read_scope: str = "tmf.read"  # needed by GET/HEAD
    auth_write_scope: str = "tmf.write"  # needed by POST/PATCH/PUT/DELETE
    auth_realm: str = "tmfserver"

    # Transport: allowed CORS origins (comma-separated, or *); empty = CORS off.
    cors_origins: str = ""
    cors_max_age_seconds: int = 600

    cart_lifetime_days: int = 30

    db_pool_size: int = 5
    db_max_overflow: int = 10

    # Notifications
    callback_allow_private: bool = False  # permit loopback/private callback addresses (tests, local demos)
    delivery_timeout_seconds: float = 5.0
    delivery_max_attempts: int = 12
    delivery_max_age_seconds: float = 86400.0
    delivery_backoff_base_seconds: float = 1.0
    delivery_backoff_cap_seconds: float = 300.0
    # Run the event dispatcher and the cancellation scheduler inside each server process.
    background_workers: bool = True

    # Fulfilment simulator (demos): moves items acknowledged → inProgress → completed/failed.
    simulate_fulfilment: bool = False
    simulate_step_seconds: float = 5.0
    simulate_failure_rate: float = 0.1

    validate_responses: bool = False
    log_level: str = "INFO"

    @cached_property
    def trusted_proxy_networks(self) -> tuple:
        return tuple(
            ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )
