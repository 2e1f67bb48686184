"""An OpenID Connect provider for the team tests, built on authlib's authorization server.

It serves discovery, JWKS, the device authorization grant (RFC 8628), the authorization code
grant with PKCE (RFC 7636) and a loopback redirect, refresh tokens and revocation (RFC 7009).
Access tokens are JWTs (RFC 9068, authlib's generator) signed RS256 or ES256 with a key the
JWKS publishes. Nothing here signs a token by hand: every token comes out of authlib.

The /test/... endpoints stand in for the person at the browser and for the operator:
approve a device code as a user, choose the user a browser sign-in is for, rotate keys,
shorten token lifetimes, and mint tokens that must be refused (expired, another audience,
another issuer, a key the JWKS does not publish).

    python3 oidc_provider.py --port PORT --issuer http://127.0.0.1:PORT [--alg RS256|ES256]
"""

import argparse
import secrets
import threading
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.jose import JsonWebKey, KeySet, jwt
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant, DeviceCredentialDict
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import Flask, jsonify, redirect, request

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--issuer", required=True)
parser.add_argument("--alg", default="RS256", choices=["RS256", "ES256"])
parser.add_argument("--client-id", default="hoopctl")
parser.add_argument("--audience", default="hoopctl")
args = parser.parse_args()

lock = threading.RLock()
state = {
    "users": {},              # name -> {"email": ..., "groups": [...]}
    "browser_user": None,     # whom an /authorize sign-in is for
    "access_ttl": 300,
    "slow_down_below": 0.9,   # seconds between two polls of a device code below which: slow_down
    "device": {},             # device_code -> DeviceCredentialDict
    "grants": {},             # user_code -> user name (approved)
    "codes": {},              # authorization code -> dict
    "refresh": {},            # refresh token -> dict
    "revoked": set(),
    "polls": {},              # device_code -> last poll time
    "poll_gaps": [],          # seconds between polls that were answered authorization_pending
    "counts": {"token": 0, "device": 0, "jwks": 0, "revoke": 0},
}


def new_key(alg):
    kind = "RSA" if alg == "RS256" else "EC"
    options = {"kid": secrets.token_hex(8), "use": "sig", "alg": alg}
    return JsonWebKey.generate_key(kind, 2048 if kind == "RSA" else "P-256", options=options, is_private=True)


keys = [new_key(args.alg)]


class User:
    def __init__(self, name):
        self.name = name

    def get_user_id(self):
        return self.name


class Client(ClientMixin):
    client_id = args.client_id

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        return scope or "openid"

    def check_redirect_uri(self, redirect_uri):
        # RFC 8252 7.3: a loopback redirect, any port.
        return redirect_uri.startswith("http://127.0.0.1:") or redirect_uri.startswith("http://[::1]:")

    def check_client_secret(self, client_secret):
        return False

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "none"

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token", DeviceCodeGrant.GRANT_TYPE)


client = Client()


def query_client(client_id):
    return client if client_id == client.client_id else None


def save_token(token, request):
    with lock:
        state["counts"]["token"] += 1
        if "refresh_token" in token:
            state["refresh"][token["refresh_token"]] = {"user": request.user.get_user_id(), "scope": token.get("scope", "")}


class TokenGenerator(JWTBearerTokenGenerator):
    def get_jwks(self):
        with lock:
            return KeySet([keys[-1]]).as_dict(is_private=True)

    def get_extra_claims(self, client, grant_type, user, scope):
        with lock:
            profile = state["users"].get(user.get_user_id(), {})
        return {"email": profile.get("email", user.get_user_id()), "email_verified": profile.get("email_verified", True),
                "groups": profile.get("groups", [])}

    def get_audiences(self, client, user, scope):
        return args.audience

    def _get_expires_in(self, client, grant_type):
        return state["access_ttl"]


app = Flask(__name__)
server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
server.register_token_generator("default", TokenGenerator(issuer=args.issuer, alg=args.alg, refresh_token_generator=lambda **kw: secrets.token_urlsafe(32)))


class DeviceEndpoint(DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS = ["none"]
    INTERVAL = 1
    EXPIRES_IN = 120

    def get_verification_uri(self):
        return args.issuer + "/device"

    def save_device_credential(self, client_id, scope, data):
        with lock:
            state["counts"]["device"] += 1
            state["device"][data["device_code"]] = DeviceCredentialDict(
                {"client_id": client_id, "scope": scope, **data, "expires_at": int(time.time()) + data["expires_in"]})


class DeviceGrant(DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def query_device_credential(self, device_code):
        with lock:
            return state["device"].get(device_code)

    def query_user_grant(self, user_code):
        with lock:
            name = state["grants"].get(user_code)
        return (User(name), True) if name else None

    def should_slow_down(self, credential):
        # Two polls closer than the interval: slow down (RFC 8628 3.5).
        with lock:
            now = time.time()
            last = state["polls"].get(credential["device_code"])
            state["polls"][credential["device_code"]] = now
            below = state["slow_down_below"]
            if last is not None and now - last < below:
                state["counts"]["slow_down"] = state["counts"].get("slow_down", 0) + 1
                return True
            if last is not None:
                state["poll_gaps"].append(round(now - last, 2))
        return False


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code, request):
        with lock:
            state["codes"][code] = {
                "user": request.user.get_user_id(), "redirect_uri": request.payload.redirect_uri,
                "scope": request.payload.scope or "openid",
                "code_challenge": request.payload.data.get("code_challenge"),
                "code_challenge_method": request.payload.data.get("code_challenge_method"),
            }

    def query_authorization_code(self, code, client):
        with lock:
            found = state["codes"].get(code)
        return Code(code, found) if found else None

    def delete_authorization_code(self, authorization_code):
        with lock:
            state["codes"].pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return User(authorization_code.data["user"])


class Code:
    def __init__(self, code, data):
        self.code, self.data = code, data
        self.code_challenge = data["code_challenge"]
        self.code_challenge_method = data["code_challenge_method"]

    def get_redirect_uri(self):
        return self.data["redirect_uri"]

    def get_scope(self):
        return self.data["scope"]

    def get_nonce(self):
        return None

    def get_auth_time(self):
        return None

    def is_expired(self):
        return False


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        with lock:
            if refresh_token in state["revoked"]:
                return None
            found = state["refresh"].get(refresh_token)
        return Refresh(refresh_token, found) if found else None

    def authenticate_user(self, refresh_token):
        return User(refresh_token.data["user"])

    def revoke_old_credential(self, refresh_token):
        with lock:
            state["revoked"].add(refresh_token.token)


class Refresh:
    def __init__(self, token, data):
        self.token, self.data = token, data

    def get_scope(self):
        return self.data["scope"]

    def check_client(self, client):
        return True

    def is_expired(self):
        return False

    def is_revoked(self):
        return self.token in state["revoked"]


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["none"]

    def query_token(self, token_string, token_type_hint):
        with lock:
            state["counts"]["revoke"] += 1
            return Refresh(token_string, state["refresh"][token_string]) if token_string in state["refresh"] else None

    def revoke_token(self, token, request):
        with lock:
            state["revoked"].add(token.token)


server.register_endpoint(DeviceEndpoint)
server.register_endpoint(Revocation)
server.register_grant(DeviceGrant)
server.register_grant(CodeGrant, [CodeChallenge(required=True)])
server.register_grant(RefreshGrant)


@app.get("/.well-known/openid-configuration")
def discovery():
    return jsonify({
        "issuer": args.issuer, "jwks_uri": args.issuer + "/jwks", "token_endpoint": args.issuer + "/token",
        "authorization_endpoint": args.issuer + "/authorize",
        "device_authorization_endpoint": args.issuer + "/device_authorization",
        "revocation_endpoint": args.issuer + "/revoke",
        "grant_types_supported": ["authorization_code", "refresh_token", DeviceCodeGrant.GRANT_TYPE],
        "code_challenge_methods_supported": ["S256"], "response_types_supported": ["code"],
        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": [args.alg],
    })


@app.get("/jwks")
def jwks():
    with lock:
        state["counts"]["jwks"] += 1
        return jsonify(KeySet(list(keys)).as_dict())


@app.post("/device_authorization")
def device_authorization():
    return server.create_endpoint_response(DeviceEndpoint.ENDPOINT_NAME)


@app.post("/token")
def token():
    return server.create_token_response()


@app.post("/revoke")
def revoke():
    return server.create_endpoint_response(Revocation.ENDPOINT_NAME)


@app.get("/authorize")
def authorize():
    # The person at the browser: whoever /test/browser-user says, consenting at once.
    with lock:
        name = state["browser_user"]
    if name is None:
        return "nobody is signed in at this browser", 403
    return server.create_authorization_response(grant_user=User(name))


# The test's hands.

@app.post("/test/users")
def add_user():
    body = request.get_json()
    with lock:
        state["users"][body["name"]] = {"email": body.get("email", body["name"]), "groups": body.get("groups", []),
                                        "email_verified": body.get("email_verified", True)}
    return jsonify({"ok": True})


@app.post("/test/approve")
def approve():
    body = request.get_json()
    with lock:
        state["grants"][body["user_code"]] = body["user"]
    return jsonify({"ok": True})


@app.post("/test/browser-user")
def browser_user():
    with lock:
        state["browser_user"] = request.get_json()["user"]
    return jsonify({"ok": True})


@app.post("/test/settings")
def settings():
    with lock:
        body = request.get_json()
        state["access_ttl"] = int(body.get("access_ttl", state["access_ttl"]))
        state["slow_down_below"] = float(body.get("slow_down_below", state["slow_down_below"]))
    return jsonify({"ok": True})


@app.post("/test/rotate")
def rotate():
    """A new signing key signs from now on; the old ones stay published unless 'retire' says."""
    with lock:
        keys.append(new_key(args.alg))
        if (request.get_json(silent=True) or {}).get("retire"):
            del keys[:-1]
        return jsonify({"kid": keys[-1].as_dict()["kid"]})


@app.get("/test/counts")
def counts():
    with lock:
        return jsonify(state["counts"])


@app.get("/test/polls")
def polls():
    with lock:
        return jsonify({"gaps": state["poll_gaps"], "slow_down": state["counts"].get("slow_down", 0)})


@app.post("/test/mint")
def mint():
    """A token as the token endpoint would make it, with one thing changed: its expiry
    (exp_offset), issue time (iat_offset), audience (aud), issuer (iss) or key (forged: a key
    nobody publishes, under the current key's kid; forged_kid: under a kid nobody publishes)."""
    body = request.get_json()
    now = int(time.time())
    with lock:
        profile = state["users"].get(body["user"], {})
        key = keys[-1]
    claims = {"iss": body.get("iss", args.issuer), "sub": body["user"], "aud": body.get("aud", args.audience),
              "client_id": args.client_id, "iat": now + int(body.get("iat_offset", 0)),
              "exp": now + int(body.get("exp_offset", 300)), "jti": secrets.token_hex(8),
              "email": profile.get("email", body["user"]), "email_verified": profile.get("email_verified", True),
              "groups": profile.get("groups", [])}
    if body.get("forged"):
        forged = new_key(args.alg).as_dict(is_private=True)
        forged["kid"] = key.as_dict()["kid"]
        key = JsonWebKey.import_key(forged)
    if body.get("forged_kid"):
        forged = new_key(args.alg)
        key = forged
    header = {"alg": args.alg, "typ": "at+jwt", "kid": key.as_dict()["kid"]}
    return jsonify({"token": jwt.encode(header, claims, key).decode()})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=args.port, threaded=True)
