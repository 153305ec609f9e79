"""Authentication and authorisation (web/auth.py) with real signed tokens and a JWKS file or URL.

The app here runs with TMF_AUTH_MODE=jwt+apikey; every other test module runs with auth off (the default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from tests.conftest import _empty_tables
from tmfserver import specdiff
from tmfserver.app import create_app
from tmfserver.bootstrap import document_path
from tmfserver.registry import SERVED, find_document
from tmfserver.web.auth import AuthConfigError, Authenticator

from ._support import CARTS, KIT_ORDER, ORDERS, assert_tmf_error

ISSUER = "https://idp.test/realms/tmf"
AUDIENCE = "tmf-api"
KID = "test-key-1"
RW_KEY = "rw-0123456789abcdef"
RO_KEY = "ro-0123456789abcdef"
SOME_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = _rsa_key()
OTHER_KEY = _rsa_key()  # same kid, not in the JWKS: a forged signature


def jwks_document(*keys: rsa.RSAPrivateKey) -> dict:
    entries = []
    for key in keys:
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        entries.append({**jwk, "kid": KID, "use": "sig", "alg": "RS256"})
    return {"keys": entries}


def token(
    scope: str = "tmf.read tmf.write",
    *,
    key: rsa.RSAPrivateKey = SIGNING_KEY,
    expires_in: int = 300,
    **claims: object,
) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + expires_in,
        "scope": scope,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps(jwks_document(SIGNING_KEY)))
    return path


def auth_settings(settings, jwks: str, **overrides: object):
    return settings.model_copy(
        update={
            "auth_mode": "jwt+apikey",
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
            "auth_jwks": jwks,
            "auth_api_keys": f"{RW_KEY}:tmf.read tmf.write,{RO_KEY}:tmf.read",
            **overrides,
        }
    )


@pytest.fixture(scope="module")
def auth_client(app, settings, jwks_file):
    secured = create_app(auth_settings(settings, str(jwks_file)))
    _empty_tables(app)
    with secured.test_client() as test_client:
        yield test_client


def challenge(response) -> str:
    return response.headers.get("www-authenticate", "")


# --- the bearer token matrix -----------------------------------------------------------------------


def expired() -> str:
    return token(expires_in=-3600)


def wrong_audience() -> str:
    return token(aud="another-api")


def wrong_issuer() -> str:
    return token(iss="https://evil.test")


def wrong_signature() -> str:
    return token(key=OTHER_KEY)


def wrong_key_type() -> str:
    """Signed with an EC key under the RSA key's kid: the algorithm and the key type disagree."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "scope": "tmf.read tmf.write"}
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": KID})


def no_scope() -> str:
    return token(scope="profile email")


MATRIX = [
    ("no token", None, 401, None),
    ("expired", expired, 401, "invalid_token"),
    ("wrong audience", wrong_audience, 401, "invalid_token"),
    ("wrong issuer", wrong_issuer, 401, "invalid_token"),
    ("wrong signature", wrong_signature, 401, "invalid_token"),
    ("wrong key type", wrong_key_type, 401, "invalid_token"),
    ("garbage", lambda: "not.a.jwt", 401, "invalid_token"),
    ("missing scope", no_scope, 403, "insufficient_scope"),
]


@pytest.mark.parametrize(("case", "make", "status", "error"), MATRIX, ids=[m[0] for m in MATRIX])
@pytest.mark.parametrize(("method", "path"), [("GET", ORDERS), ("POST", ORDERS), ("GET", CARTS)])
def test_token_matrix(auth_client, case, make, status, error, method, path) -> None:
    headers = bearer(make()) if make else {}
    response = auth_client.request(method, path, headers=headers, json=KIT_ORDER if method == "POST" else None)
    body = assert_tmf_error(response, status)
    assert body["requestId"] == response.headers["x-request-id"]
    value = challenge(response)
    assert value.startswith('Bearer realm="tmfserver"'), value
    if error:
        assert f'error="{error}"' in value
    else:
        assert "error=" not in value  # RFC 6750 3.1: no error code when no credentials were sent
    if status == 403:
        assert 'scope="tmf.read"' in value or 'scope="tmf.write"' in value


def test_valid_token_reads_and_writes(auth_client) -> None:
    created = auth_client.post(ORDERS, json=KIT_ORDER, headers=bearer(token()))
    assert created.status_code == 201, created.text
    listed = auth_client.get(ORDERS, headers=bearer(token("tmf.read")))
    assert listed.status_code == 200
    assert [o["id"] for o in listed.json()] == [created.json()["id"]]


def test_read_only_token_cannot_write(auth_client) -> None:
    read_only = bearer(token("tmf.read"))
    body = assert_tmf_error(auth_client.post(CARTS, json={}, headers=read_only), 403)
    assert "tmf.write" in body["message"]
    assert auth_client.get(CARTS, headers=read_only).status_code == 200


def test_write_only_token_cannot_read(auth_client) -> None:
    response = auth_client.get(CARTS, headers=bearer(token("tmf.write")))
    assert_tmf_error(response, 403)
    assert 'error="insufficient_scope"' in challenge(response)


def test_scopes_as_a_list_claim(auth_client) -> None:
    value = token(scope="", scp=["tmf.read"])
    assert auth_client.get(ORDERS, headers=bearer(value)).status_code == 200


@pytest.mark.parametrize(
    "forged",
    [
        "unsigned",
        "hs256 with the public key as secret",
    ],
)
def test_algorithm_confusion_is_refused(auth_client, forged: str) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "scope": "tmf.read tmf.write"}
    if forged == "unsigned":
        value = jwt.encode(claims, None, algorithm="none", headers={"kid": KID})
    else:  # built by hand: PyJWT itself refuses to sign with a public key as an HMAC secret
        secret = SIGNING_KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        header = {"alg": "HS256", "typ": "JWT", "kid": KID}
        signing_input = b".".join(_b64(json.dumps(part).encode()) for part in (header, claims))
        value = (signing_input + b"." + _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())).decode()
    assert_tmf_error(auth_client.get(ORDERS, headers=bearer(value)), 401)


def test_token_without_expiry_is_refused(auth_client) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "scope": "tmf.read"}
    value = jwt.encode(claims, SIGNING_KEY, algorithm="RS256", headers={"kid": KID})
    assert_tmf_error(auth_client.get(ORDERS, headers=bearer(value)), 401)


# --- API keys --------------------------------------------------------------------------------------


def test_api_key_read_write(auth_client) -> None:
    response = auth_client.post(CARTS, json={}, headers={"X-API-Key": RW_KEY})
    assert response.status_code == 201, response.text
    assert auth_client.get(CARTS, headers={"X-API-Key": RO_KEY}).status_code == 200


def test_invalid_api_key_is_401(auth_client) -> None:
    response = auth_client.get(CARTS, headers={"X-API-Key": "nope"})
    assert_tmf_error(response, 401)
    assert 'APIKey realm="tmfserver", error="invalid_token"' in challenge(response)


def test_read_only_api_key_writing_is_403(auth_client) -> None:
    response = auth_client.post(CARTS, json={}, headers={"X-API-Key": RO_KEY})
    assert_tmf_error(response, 403)
    assert 'error="insufficient_scope"' in challenge(response)
    assert 'scope="tmf.write"' in challenge(response)


def test_either_credential_is_enough(auth_client) -> None:
    headers = {**bearer(expired()), "X-API-Key": RW_KEY}
    assert auth_client.get(ORDERS, headers=headers).status_code == 200


def test_no_credentials_offers_both_schemes(auth_client) -> None:
    response = auth_client.get(ORDERS)
    assert_tmf_error(response, 401)
    challenges = response.headers.get_list("www-authenticate")
    assert [c.split()[0] for c in challenges] == ["Bearer", "APIKey"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("k1:a b,k2", {"k1": {"a", "b"}, "k2": {"tmf.read", "tmf.write"}}),
        ('{"k1": "a b", "k2": ["c"]}', {"k1": {"a", "b"}, "k2": {"c"}}),
    ],
)
def test_api_key_formats(settings, raw: str, expected: dict) -> None:
    authenticator = Authenticator(settings.model_copy(update={"auth_mode": "apikey", "auth_api_keys": raw}))
    for key, scopes in expected.items():
        principal = authenticator._verify_key(key)
        assert principal.scopes == scopes
        assert principal.subject == f"apikey:{hashlib.sha256(key.encode()).hexdigest()[:12]}"  # never the key


# --- what is covered, what stays public --------------------------------------------------------------


def _operations() -> list[tuple[str, str]]:
    operations = []
    for spec in (spec for api in SERVED for spec in api.documents):
        document = json.loads(document_path(spec).read_text())
        base = specdiff.base_path(document)  # Swagger 2 basePath or the OpenAPI 3 server URL's path
        for template, methods in document["paths"].items():
            path = base + re.sub(r"\{[^}]+\}", SOME_ID, template)
            operations.extend((m.upper(), path) for m in methods if m != "parameters")
    return operations


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_of_every_document_needs_credentials(auth_client, method: str, path: str) -> None:
    response = auth_client.request(method, path, json={} if method in ("POST", "PATCH") else None)
    assert_tmf_error(response, 401)


@pytest.mark.parametrize(
    "path",
    [
        "/tmf-api/resourceOrderingManagement/v4/swagger.json",
        "/tmf-api/resourceOrderingManagement/v4/extensions.json",
        "/tmf-api/shoppingCart/v4/swagger.json",
        "/tmf-api/resourceOrderingManagement/v4/ui/",
        "/tmf-api/shoppingCart/v4/ui/",
    ],
)
def test_documents_and_ui_stay_public(auth_client, path: str) -> None:
    assert auth_client.get(path).status_code == 200


def test_an_id_named_ui_is_not_public(auth_client) -> None:
    assert_tmf_error(auth_client.get(f"{ORDERS}/ui"), 401)
    assert_tmf_error(auth_client.post(f"{ORDERS.rsplit('/', 1)[0]}/swagger.json", json={}), 401)


def test_unknown_paths_need_credentials_too(auth_client) -> None:
    assert_tmf_error(auth_client.get("/tmf-api/nothing"), 401)
    assert_tmf_error(auth_client.get("/tmf-api/nothing", headers=bearer(token())), 404)


# --- the documents declare what the middleware enforces ------------------------------------------------


@pytest.mark.parametrize("name", ["TMF652", "TMF663"])
def test_documents_declare_the_enforced_scopes(settings, name: str) -> None:
    document = json.loads(document_path(find_document(name)).read_text())
    assert set(document["securityDefinitions"]) == {"oauth2", "apiKey"}
    assert document["securityDefinitions"]["apiKey"]["name"] == "X-API-Key"
    authenticator = Authenticator(settings.model_copy(update={"auth_mode": "apikey", "auth_api_keys": "k"}))
    for template, methods in document["paths"].items():
        for method, operation in methods.items():
            if method == "parameters":
                continue
            security = operation.get("security", document["security"])
            scopes = next(s["oauth2"] for s in security if "oauth2" in s)
            assert scopes == [authenticator.required_scope(method.upper())], (template, method)
            assert {"apiKey": []} in security


def test_auth_off_lets_everything_through_despite_the_declared_security(client) -> None:
    """Connexion enforces a document's `security` itself (401 for everything) unless each scheme has a
    verification function: app.security_map() gives it one that defers to web.auth."""
    assert client.get(ORDERS).status_code == 200
    assert client.post(CARTS, json={}).status_code == 201


# --- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "update",
    [
        {"auth_mode": "jwt"},  # no issuer, audience, JWKS
        {"auth_mode": "jwt", "auth_issuer": ISSUER, "auth_audience": AUDIENCE, "auth_jwks": "/nonexistent"},
        {"auth_mode": "apikey"},  # no keys
        {"auth_mode": "apikey", "auth_api_keys": "{not json"},
        {
            "auth_mode": "jwt",
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
            "auth_jwks": "https://idp.test/jwks",
            "auth_algorithms": "RS256,HS256",
        },
    ],
)
def test_broken_auth_settings_refuse_to_start(settings, update: dict) -> None:
    with pytest.raises(AuthConfigError):
        create_app(settings.model_copy(update=update))


@pytest.fixture
def jwks_server():
    document = json.dumps(jwks_document(SIGNING_KEY)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def test_jwks_from_a_url(app, settings, jwks_server) -> None:
    secured = create_app(auth_settings(settings, jwks_server))
    _empty_tables(app)
    with secured.test_client() as test_client:
        assert test_client.get(ORDERS, headers=bearer(token("tmf.read"))).status_code == 200
        assert_tmf_error(test_client.get(ORDERS, headers=bearer(wrong_signature())), 401)
        assert_tmf_error(test_client.get(ORDERS, headers=bearer(expired())), 401)


def test_unreachable_jwks_url_is_503_not_401(app, settings) -> None:
    secured = create_app(auth_settings(settings, "http://127.0.0.1:9/jwks.json"))
    with secured.test_client() as test_client:
        assert_tmf_error(test_client.get(ORDERS, headers=bearer(token())), 503)
