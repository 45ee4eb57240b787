"""Long-lived JWT verifiers built on PyJWT's PyJWKClient, for
crates/jwtx-server/tests/interop_jwks.rs.

    python pyjwk_verifier.py MODE JWKS_URL ALG CACHE_SECONDS [COOLDOWN_SECONDS]

MODE is
  pyjwt  - PyJWKClient.get_signing_key_from_jwt + jwt.decode;
  flask  - a flask-jwt-extended app whose decode_key_loader takes the key from the JWKS by the
           token's `kid` (through PyJWKClient), with a @jwt_required() route called through
           Flask's test client.

One PyJWKClient for the process's whole life (so its cache is what gets exercised across key
rotations): it caches the JWK Set for CACHE_SECONDS (the server's Cache-Control max-age) and
refetches it on an unknown `kid` (its documented behaviour) unless it fetched it less than
COOLDOWN_SECONDS ago (default 0: always; PyJWKClient's own default is 30). Prints one
JSON line on start ({"ready": true, ...versions}), then reads one token per line on stdin and
answers each with one JSON line:
    {"valid": true, "sub": ..., "kid": ..., "fetches": n}
    {"valid": false, "reason": "no_key" | "signature" | "other", "error": ..., "fetches": n}
where `fetches` counts the JWKS fetches made so far (flask mode adds the HTTP "status").
"""

import json
import sys

import jwt
from jwt import PyJWKClient
from jwt.exceptions import InvalidSignatureError, PyJWKClientError

# What the flask app's decode_key_loader says when the JWKS has no key for the token's kid.
NO_KEY = "No key in the JWKS for kid"


class CountingClient(PyJWKClient):
    """A PyJWKClient that counts its fetches of the JWK Set."""

    fetches = 0

    def fetch_data(self):
        self.fetches += 1
        return super().fetch_data()


def pyjwt_verifier(client, alg):
    def verify(token):
        try:
            key = client.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=[alg])
            kid = jwt.get_unverified_header(token).get("kid")
            return {"valid": True, "sub": claims.get("sub"), "kid": kid}
        except PyJWKClientError as e:
            return {"valid": False, "reason": "no_key", "error": repr(e)}
        except InvalidSignatureError as e:
            return {"valid": False, "reason": "signature", "error": repr(e)}
        except jwt.PyJWTError as e:
            return {"valid": False, "reason": "other", "error": repr(e)}

    return verify


def flask_verifier(client, alg):
    from flask import Flask, jsonify
    from flask_jwt_extended import JWTManager, get_jwt_header, get_jwt_identity, jwt_required

    app = Flask("jwtx_interop")
    app.config.update(
        # Only verifies: the secret key signs nothing here (flask-jwt-extended wants one set).
        JWT_SECRET_KEY="unused-this-app-only-verifies",
        JWT_ALGORITHM=alg,
        JWT_DECODE_ALGORITHMS=[alg],
        JWT_TOKEN_LOCATION=["headers"],
    )
    manager = JWTManager(app)

    @manager.decode_key_loader
    def decode_key(jwt_header, _jwt_data):
        kid = jwt_header.get("kid")
        try:
            return client.get_signing_key(kid).key
        except PyJWKClientError as e:
            # flask-jwt-extended answers InvalidTokenError (422); PyJWKClientError it does not know.
            raise jwt.InvalidTokenError(f"{NO_KEY} {kid!r}") from e

    @app.get("/protected")
    @jwt_required()
    def protected():
        return jsonify(sub=get_jwt_identity(), kid=get_jwt_header().get("kid"))

    http = app.test_client()

    def verify(token):
        r = http.get("/protected", headers={"Authorization": f"Bearer {token}"})
        body = r.get_json(silent=True) or {}
        if r.status_code == 200:
            return {"valid": True, "status": 200, "sub": body.get("sub"), "kid": body.get("kid")}
        msg = str(body.get("msg", r.get_data(as_text=True)))
        if msg.startswith(NO_KEY):
            reason = "no_key"
        elif msg == "Signature verification failed":
            reason = "signature"
        else:
            reason = "other"
        return {"valid": False, "status": r.status_code, "reason": reason, "error": msg}

    return verify


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("pyjwt", "flask"):
        sys.exit("usage: pyjwk_verifier.py pyjwt|flask JWKS_URL ALG CACHE_SECONDS [COOLDOWN_SECONDS]")
    mode, url, alg, cache_seconds = sys.argv[1:5]
    cooldown = float(sys.argv[5]) if len(sys.argv) == 6 else 0.0
    client = CountingClient(
        url, lifespan=float(cache_seconds), cooldown_duration=cooldown, timeout=10
    )
    verify = (pyjwt_verifier if mode == "pyjwt" else flask_verifier)(client, alg)

    from importlib.metadata import version

    versions = {p: version(p) for p in ("PyJWT", "cryptography", "Flask", "Flask-JWT-Extended")}
    print(json.dumps({"ready": True, **versions}), flush=True)
    for line in sys.stdin:
        token = line.strip()
        if not token:
            continue
        reply = verify(token)
        reply["fetches"] = client.fetches
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
