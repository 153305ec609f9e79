"""Authentication and authorisation for every operation of every served document (ASGI middleware).

TMF_AUTH_MODE picks what is accepted: `none` (the default: everything passes), `jwt` (OAuth2 bearer JWTs,
`Authorization: Bearer …`, verified against TMF_AUTH_JWKS with TMF_AUTH_ISSUER and TMF_AUTH_AUDIENCE),
`apikey` (static keys in `X-API-Key`, TMF_AUTH_API_KEYS) or `jwt+apikey` (either). GET/HEAD/OPTIONS need
TMF_AUTH_READ_SCOPE, every other method TMF_AUTH_WRITE_SCOPE. No or bad credentials: 401, a missing
scope: 403, each a TMF Error with a `WWW-Authenticate` challenge (RFC 6750). The served documents
(`swagger.json`, `extensions.json`) and Swagger UI stay public.

This middleware is the one enforcer. The documents declare `securityDefinitions`/`security` (patches in
openapi/patches/) for Swagger UI and clients; Connexion's own SecurityMiddleware would refuse every
request of such a document (401) unless each scheme had a verification function, so `security_map()`
gives it one that only reports what this middleware decided.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet
from starlette.types import ASGIApp, Receive, Scope, Send

from ..settings import Settings
from .context import PRINCIPAL_KEY  # where the authenticated Principal is kept on the request scope
from .middleware import send_tmf_error
from .transport import UiPaths

log = logging.getLogger("tmfserver.auth")

API_KEY_HEADER = b"x-api-key"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_DOCUMENTS = ("/swagger.json", "/openapi.json", "/extensions.json")
KEY_FAMILIES = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA", "Ed25519", "Ed448")}


class AuthConfigError(ValueError):
    """The auth settings cannot work; raised at start-up, never per request."""


@dataclass(frozen=True)
class Principal:
    subject: str | None
    scopes: frozenset[str]
    via: str  # "jwt" or "apikey"

    def as_token_info(self) -> dict[str, Any]:
        return {"sub": self.subject, "scope": " ".join(sorted(self.scopes)), "via": self.via}


class Refusal(Exception):
    def __init__(self, status: int, message: str, error: str | None = None, scope: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error  # RFC 6750 error code for the challenge
        self.scope = scope  # the scope an insufficient_scope refusal asks for


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_api_keys(raw: str, default_scopes: frozenset[str]) -> dict[bytes, frozenset[str]]:
    """`key:scope scope,key2:scope` or a JSON object {"key": "scope scope" | ["scope", …]}.

    Keys are kept as SHA-256 digests: a lookup compares digests, never the secret itself."""
    raw = raw.strip()
    if not raw:
        return {}
    entries: list[tuple[str, Any]] = []
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise AuthConfigError(f"TMF_AUTH_API_KEYS is not a valid JSON object: {exc}") from None
        entries = list(data.items())
    else:
        for part in raw.split(","):
            key, _sep, scopes = part.strip().partition(":")
            entries.append((key.strip(), scopes))
    keys: dict[bytes, frozenset[str]] = {}
    for key, scopes in entries:
        if not key:
            raise AuthConfigError("TMF_AUTH_API_KEYS has an empty key")
        names = scopes.split() if isinstance(scopes, str) else [str(s) for s in scopes or []]
        keys[_digest(key)] = frozenset(names) if names else default_scopes
    return keys


class JwksSource:
    """Signing keys from a JWKS file (re-read when it changes) or URL (PyJWKClient, cached)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.remote = location.startswith(("http://", "https://"))
        self.client = PyJWKClient(location, cache_keys=True, lifespan=300, timeout=5) if self.remote else None
        self._loaded: tuple[float, PyJWKSet] | None = None
        if not self.remote:
            self._key_set()  # fail at start-up on a missing or broken file

    def _key_set(self) -> PyJWKSet:
        path = Path(self.location)
        try:
            mtime = path.stat().st_mtime
            if self._loaded is None or self._loaded[0] != mtime:
                self._loaded = (mtime, PyJWKSet.from_json(path.read_text()))
        except (OSError, jwt.PyJWKSetError, ValueError) as exc:
            if self._loaded is None:
                raise AuthConfigError(f"TMF_AUTH_JWKS {self.location}: {exc}") from exc
            log.warning("JWKS file %s unreadable, keeping the previous keys: %s", self.location, exc)
        return self._loaded[1]

    async def key_for(self, token: str) -> PyJWK:
        if self.client is not None:
            try:
                return await anyio.to_thread.run_sync(self.client.get_signing_key_from_jwt, token)
            except jwt.PyJWKClientConnectionError as exc:
                log.error("JWKS %s unreachable: %s", self.location, exc)
                raise Refusal(503, "the token signing keys cannot be obtained right now") from None
            except jwt.DecodeError:
                raise Refusal(401, "the token is malformed", "invalid_token") from None
            except jwt.PyJWKClientError:
                raise Refusal(401, "no signing key matches the token", "invalid_token") from None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError:
            raise Refusal(401, "the token is malformed", "invalid_token") from None
        keys = [k for k in self._key_set().keys if k.public_key_use in (None, "sig")]
        if kid is not None:
            keys = [k for k in keys if k.key_id == kid]
        if len(keys) != 1:
            raise Refusal(401, "no signing key matches the token", "invalid_token")
        return keys[0]


def _token_scopes(claims: dict[str, Any]) -> frozenset[str]:
    scopes: set[str] = set()
    for claim in ("scope", "scp", "scopes"):
        value = claims.get(claim)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(str(v) for v in value)
    return frozenset(scopes)


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mode = settings.auth_mode
        self.use_jwt = "jwt" in self.mode
        self.use_keys = "apikey" in self.mode
        self.read_scope = settings.auth_read_scope
        self.write_scope = settings.auth_write_scope
        self.algorithms = [a.strip() for a in settings.auth_algorithms.split(",") if a.strip()]
        self.jwks: JwksSource | None = None
        self.keys: dict[bytes, frozenset[str]] = {}
        if self.use_jwt:
            missing = [
                name
                for name, value in (
                    ("TMF_AUTH_ISSUER", settings.auth_issuer),
                    ("TMF_AUTH_AUDIENCE", settings.auth_audience),
                    ("TMF_AUTH_JWKS", settings.auth_jwks),
                )
                if not value
            ]
            if missing:
                raise AuthConfigError(f"TMF_AUTH_MODE={self.mode} needs {', '.join(missing)}")
            if any(a.upper().startswith("HS") or a.lower() == "none" for a in self.algorithms):
                raise AuthConfigError("TMF_AUTH_ALGORITHMS may only name public-key algorithms")
            self.jwks = JwksSource(settings.auth_jwks)
        if self.use_keys:
            self.keys = parse_api_keys(settings.auth_api_keys, frozenset({self.read_scope, self.write_scope}))
            if not self.keys:
                raise AuthConfigError(f"TMF_AUTH_MODE={self.mode} needs TMF_AUTH_API_KEYS")

    async def _verify_jwt(self, token: str) -> Principal:
        assert self.jwks is not None
        key = await self.jwks.key_for(token)
        # Only algorithms of the key's own family: an ES256 token must never meet an RSA key's parser.
        family = KEY_FAMILIES.get(key.key_type, ())
        algorithms = [a for a in self.algorithms if a.startswith(family)] if family else []
        if not algorithms:
            raise Refusal(401, "the token's signing key is of an unsupported type", "invalid_token")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=algorithms,
                audience=self.settings.auth_audience,
                issuer=self.settings.auth_issuer,
                leeway=self.settings.auth_leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Refusal(401, "the token has expired", "invalid_token") from None
        except jwt.InvalidAudienceError:
            raise Refusal(401, "the token is not meant for this audience", "invalid_token") from None
        except jwt.InvalidIssuerError:
            raise Refusal(401, "the token was not issued by the trusted issuer", "invalid_token") from None
        except jwt.InvalidSignatureError:
            raise Refusal(401, "the token signature is invalid", "invalid_token") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Refusal(401, f"the token has no '{exc.claim}' claim", "invalid_token") from None
        except jwt.ImmatureSignatureError:
            raise Refusal(401, "the token is not valid yet", "invalid_token") from None
        except jwt.DecodeError:
            raise Refusal(401, "the token is malformed", "invalid_token") from None
        except (jwt.PyJWTError, TypeError, ValueError) as exc:  # e.g. the key cannot check this token's alg
            log.info("token refused: %s: %s", exc.__class__.__name__, exc)
            raise Refusal(401, "the token is invalid", "invalid_token") from None
        subject = claims.get("sub")
        return Principal(str(subject) if subject is not None else None, _token_scopes(claims), "jwt")

    def _verify_key(self, key: str) -> Principal:
        digest = _digest(key)
        scopes = self.keys.get(digest)
        if scopes is None:
            raise Refusal(401, "the API key is not valid", "invalid_token")
        return Principal(f"apikey:{digest.hex()[:12]}", scopes, "apikey")

    async def authenticate(self, headers: list[tuple[bytes, bytes]]) -> Principal:
        """The caller, or Refusal(401). A request may carry a bearer token, an API key or both (either
        valid one is enough, in jwt+apikey mode)."""
        bearer = api_key = None
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"authorization":
                scheme, _sep, credentials = value.decode("latin-1").strip().partition(" ")
                if scheme.lower() == "bearer" and credentials.strip():
                    bearer = credentials.strip()
            elif lowered == API_KEY_HEADER:
                api_key = value.decode("latin-1").strip()
        refusals: list[Refusal] = []
        if self.use_jwt and bearer:
            try:
                return await self._verify_jwt(bearer)
            except Refusal as refusal:
                refusals.append(refusal)
        if self.use_keys and api_key:
            try:
                return self._verify_key(api_key)
            except Refusal as refusal:
                refusals.append(refusal)
        if refusals:
            raise max(refusals, key=lambda r: r.status)  # a 503 (keys unreachable) over a 401
        raise Refusal(401, "authentication is required")

    def required_scope(self, method: str) -> str:
        return self.read_scope if method in READ_METHODS else self.write_scope

    def challenges(self, refusal: Refusal, via: str | None = None) -> list[tuple[bytes, bytes]]:
        realm = self.settings.auth_realm.replace('"', "")
        params = [f'realm="{realm}"']
        if refusal.error:
            params.append(f'error="{refusal.error}"')
            description = re.sub(r'[^\x20-\x7e]|["\\]', "", refusal.message)[:200]  # a quoted-string
            params.append(f'error_description="{description}"')
        if refusal.scope:
            params.append(f'scope="{refusal.scope}"')
        values = []
        if self.use_jwt and via in (None, "jwt"):
            values.append("Bearer " + ", ".join(params))
        if self.use_keys and via in (None, "apikey"):
            values.append("APIKey " + ", ".join([*params, 'header="X-API-Key"']))
        return [(b"www-authenticate", v.encode("latin-1", "replace")) for v in values]


# Why: docs/decisions/0013-security-declared-in-documents-enforced-by-middleware.md
class Authenticate:
    """ASGI middleware: the caller must be authenticated and hold the method's scope."""

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator | None, base_paths: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public = {base + doc for base in base_paths for doc in PUBLIC_DOCUMENTS}
        self.ui_paths = UiPaths(base_paths)

    def is_public(self, method: str, path: str) -> bool:
        if method not in ("GET", "HEAD"):
            return False
        return path in self.public or path in self.ui_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authenticator = self.authenticator
        if authenticator is None or scope["type"] != "http" or self.is_public(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            principal = await authenticator.authenticate(scope.get("headers", []))
        except Refusal as refusal:
            headers = authenticator.challenges(refusal) if refusal.status == 401 else []
            await send_tmf_error(send, refusal.status, refusal.message, headers=headers)
            return
        except Exception:  # this runs outside Connexion's error handlers: still a TMF Error, never a trace
            log.exception("authentication failed unexpectedly")
            await send_tmf_error(send, 500, "internal error; it has been logged")
            return
        needed = authenticator.required_scope(scope["method"])
        if needed not in principal.scopes:
            refusal = Refusal(403, f"this operation needs the scope {needed}", "insufficient_scope", needed)
            await send_tmf_error(
                send, 403, refusal.message, headers=authenticator.challenges(refusal, principal.via)
            )
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)


class DelegatedSecurity:
    """Connexion security handler for the documents' schemes: the decision is Authenticate's, made before
    Connexion sees the request; this only hands the verified caller (or nobody, auth off) to Connexion's
    `context` (`user`, `token_info`)."""

    def get_fn(self, _security_scheme: dict, _required_scopes: list[str]):
        def verified(request: Any) -> dict[str, Any]:
            principal = request.scope.get(PRINCIPAL_KEY)
            return principal.as_token_info() if principal else {}

        return verified


def make_authenticator(settings: Settings) -> Authenticator | None:
    """None when auth is off; raises AuthConfigError at start-up when the settings cannot work."""
    return Authenticator(settings) if settings.auth_mode != "none" else None


def security_map() -> dict[str, type]:
    return {"oauth2": DelegatedSecurity, "apiKey": DelegatedSecurity}


__all__ = ["AuthConfigError", "Authenticate", "make_authenticator", "security_map"]
