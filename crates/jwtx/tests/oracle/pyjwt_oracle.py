"""PyJWT / Flask-JWT-Extended oracle for jwtx interoperability tests.

Run with the venv python made by `.ci/python-env` (target/pyenv/bin/python).

Protocol: one JSON request per line on stdin, one JSON response per line on
stdout (flushed after each), until EOF; blank lines get no response. Every
response has "ok". A failing request answers
{"ok": false, "error": "<ExceptionClassName>: <message>"}; the process never
exits because of a bad request. Input and output are strict JSON (output is
ASCII; NaN/Infinity are rejected, so claims holding them give an error).
Python warnings raised while serving a request (e.g. InsecureKeyLengthWarning)
are returned as "warnings": ["<WarningClass>: <message>", ...] rather than
printed to stderr.

Requests ("op" selects the operation):

  {"op": "ping"}
      -> {"ok": true, "versions": {"pyjwt", "cryptography", "flask",
                                   "flask_jwt_extended", "python"}}

  {"op": "sign", "alg": "HS256", "key": KEY, "claims": {...},
   "headers": {...}?}
      -> {"ok": true, "token": "..."}          # jwt.encode
      PyJWT always adds "typ": "JWT" unless headers has "typ": null.

  {"op": "verify", "alg": "RS256", "key": KEY, "token": "...",
   "algorithms": [...]?, "options": {...}?, "audience": ...?,
   "issuer": ...?, "subject": ...?, "leeway": seconds?}
      -> {"ok": true, "claims": {...}, "header": {...}}
      jwt.decode(token, key, algorithms=algorithms or [alg], ...), header
      from jwt.get_unverified_header. "options" is PyJWT's options dict
      (verify_signature, verify_exp, require, strict_aud, ...).

  {"op": "fje_create", "secret": "...", "identity": "alice",
   "kind": "access"|"refresh", "fresh": bool|seconds,
   "additional_claims": {...}?, "additional_headers": {...}?,
   "expires_seconds": int|false|null, "config": {"JWT_...": value}?}
      -> {"ok": true, "token": "..."}
      create_access_token / create_refresh_token in a fresh Flask app with
      JWT_SECRET_KEY=secret plus config. fresh as a number means
      timedelta(seconds=...); expires_seconds null/absent uses the config
      default, false means no exp. "fresh" is ignored for refresh tokens.

  {"op": "fje_decode", "secret": "...", "token": "...", "config": {...}?,
   "allow_expired": bool?}
      -> {"ok": true, "claims": {...}}         # flask_jwt_extended.decode_token

KEY is one of:
  {"secret": "utf-8 text"}          HMAC key (its UTF-8 bytes)
  {"secret_b64url": "..."}          HMAC key (base64url, padding optional)
  {"pem": "-----BEGIN ..."}         PEM: private key to sign; public or
                                    private key to verify (a private key is
                                    replaced by its public half, because
                                    PyJWT's RSA verify rejects private keys)
  {"jwk": {...}}                    JWK, loaded with
                                    get_default_algorithms()[alg].from_jwk
"""

import base64
import datetime
import json
import sys
import warnings
from importlib.metadata import version

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import get_default_algorithms


def load_key(key, alg):
    if not isinstance(key, dict):
        raise TypeError("key must be an object")
    if "secret" in key:
        return key["secret"].encode("utf-8")
    if "secret_b64url" in key:
        s = key["secret_b64url"]
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if "pem" in key:
        return key["pem"].encode("ascii")
    if "jwk" in key:
        algorithms = get_default_algorithms()
        if alg not in algorithms:
            raise jwt.exceptions.InvalidAlgorithmError(f"unknown algorithm {alg!r}")
        return algorithms[alg].from_jwk(key["jwk"])
    raise ValueError("key needs one of: secret, secret_b64url, pem, jwk")


def op_ping(req):
    names = ["pyjwt", "cryptography", "flask", "flask_jwt_extended"]
    dists = ["PyJWT", "cryptography", "Flask", "Flask-JWT-Extended"]
    versions = {n: version(d) for n, d in zip(names, dists)}
    versions["python"] = sys.version.split()[0]
    return {"versions": versions}


def op_sign(req):
    alg = req["alg"]
    token = jwt.encode(
        req["claims"], load_key(req["key"], alg), algorithm=alg,
        headers=req.get("headers"),
    )
    return {"token": token}


def op_verify(req):
    alg = req.get("alg")
    kwargs = {}
    for name in ("options", "audience", "issuer", "subject", "leeway"):
        if req.get(name) is not None:
            kwargs[name] = req[name]
    key = load_key(req["key"], alg)
    # PyJWT's RSA/PSS verify fails (AttributeError) when handed a private key,
    # so verify with the public half of any private PEM or JWK key.
    if isinstance(key, bytes) and b"PRIVATE KEY-----" in key:
        key = load_pem_private_key(key, password=None)
    if hasattr(key, "public_key"):
        key = key.public_key()
    claims = jwt.decode(
        req["token"], key,
        algorithms=req.get("algorithms") or [alg], **kwargs,
    )
    return {"claims": claims, "header": jwt.get_unverified_header(req["token"])}


def flask_app(secret, config):
    from flask import Flask
    from flask_jwt_extended import JWTManager

    app = Flask("jwtx_oracle")
    app.config["JWT_SECRET_KEY"] = secret
    app.config.update(config or {})
    JWTManager(app)
    return app


def op_fje_create(req):
    import flask_jwt_extended as fje

    expires = req.get("expires_seconds")
    if expires is not None and expires is not False:
        expires = datetime.timedelta(seconds=expires)
    fresh = req.get("fresh", False)
    if not isinstance(fresh, bool):
        fresh = datetime.timedelta(seconds=fresh)
    common = dict(
        expires_delta=expires,
        additional_claims=req.get("additional_claims"),
        additional_headers=req.get("additional_headers"),
    )
    kind = req.get("kind", "access")
    with flask_app(req["secret"], req.get("config")).app_context():
        if kind == "access":
            token = fje.create_access_token(req["identity"], fresh=fresh, **common)
        elif kind == "refresh":
            token = fje.create_refresh_token(req["identity"], **common)
        else:
            raise ValueError(f"kind must be 'access' or 'refresh', not {kind!r}")
    return {"token": token}


def op_fje_decode(req):
    import flask_jwt_extended as fje

    with flask_app(req["secret"], req.get("config")).app_context():
        claims = fje.decode_token(
            req["token"], allow_expired=bool(req.get("allow_expired", False))
        )
    return {"claims": claims}


OPS = {
    "ping": op_ping,
    "sign": op_sign,
    "verify": op_verify,
    "fje_create": op_fje_create,
    "fje_decode": op_fje_decode,
}


def reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def handle(line):
    try:
        req = json.loads(line, parse_constant=reject_constant)
        if not isinstance(req, dict):
            raise ValueError("request must be a JSON object")
        op = OPS.get(req.get("op"))
        if op is None:
            raise ValueError(f"unknown op {req.get('op')!r}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            resp = {"ok": True, **op(req)}
        if caught:
            resp["warnings"] = [
                f"{w.category.__name__}: {w.message}" for w in caught
            ]
        return json.dumps(resp, allow_nan=False)
    except Exception as e:  # every failure becomes a response
        return json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"})


def main():
    sys.stdin.reconfigure(encoding="utf-8")
    sys.stdout.reconfigure(encoding="utf-8")
    for line in iter(sys.stdin.readline, ""):
        if not line.strip():
            continue
        sys.stdout.write(handle(line) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
