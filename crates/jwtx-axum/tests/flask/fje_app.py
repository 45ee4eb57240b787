"""flask-jwt-extended side of the jwtx-axum differential tests (tests/differential/).

Run with the venv python made by `.ci/python-env` (target/pyenv/bin/python).

Protocol: one JSON request per line on stdin, one JSON line on stdout (flushed after each),
until EOF. A request that cannot be served answers {"error": "<Class>: <message>"}; the
process never exits because of a bad request.

  {"op": "ping"}
      -> {"versions": {...}}

  {"op": "request", "config": {JWT_* overrides},
   "request": {"method", "path", "headers": [[k, v], ...], "body": str|null}}
      -> {"status": int, "body": str, "set_cookie": [str, ...], "content_type": str|null,
          "www_authenticate": str|null}
      Served by Flask's test client (without its cookie jar, so the Cookie header is sent as
      given) against an app with the routes below, built once per config.

  {"op": "mint", "config": {...}, "kind": "access"|"refresh", "identity": str,
   "fresh": bool|seconds (timedelta), "expires_seconds": int|false|null,
   "additional_claims": {...}|null, "additional_headers": {...}|null}
      -> {"token": str}     create_access_token / create_refresh_token

The secret is SECRET below (64 characters, as jwtx refuses secrets under 32 bytes).

Routes (the Rust test app mirrors them):
  GET/POST/PUT/DELETE/OPTIONS /protected  @jwt_required()  {"identity"}  (OPTIONS: {"options": true})
  GET  /optional               @jwt_required(optional=True) {"identity"} (null without a token)
  GET  /fresh                  @jwt_required(fresh=True)    {"identity"}
  POST /refresh                @jwt_required(refresh=True)  {"identity"}
  GET  /any                    @jwt_required(verify_type=False) {"type"}
  GET  /cookies-only           @jwt_required(locations=["cookies"]) {"identity"}
  POST /login                  {"identity"} body -> access (fresh) + refresh cookies, {"login": true}
  POST /login-short            access cookie only, set_access_cookies(max_age=600, domain="api.example.com")
  POST /logout                 unset_jwt_cookies, {"logout": true}
  GET  /whoami                 @jwt_required()  {"identity", "type", "fresh", "location"}
"""

import datetime
import json
import sys
import traceback
from importlib.metadata import version

from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    get_jwt_request_location,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)

SECRET = "differential-test-secret-0123456789abcdef0123456789abcdef0123456"
assert len(SECRET) == 64

_apps = {}


def make_app(config):
    app = Flask("fje_differential")
    app.config["JWT_SECRET_KEY"] = SECRET
    app.config["TESTING"] = False
    app.logger.disabled = True  # 500s (FJE bugs under test) need no traceback here
    app.config.update(config)
    JWTManager(app)

    @app.route("/protected", methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"])
    @jwt_required()
    def protected():
        if request.method == "OPTIONS":
            return jsonify(options=True)
        return jsonify(identity=get_jwt_identity())

    @app.route("/optional")
    @jwt_required(optional=True)
    def optional():
        return jsonify(identity=get_jwt_identity())

    @app.route("/fresh")
    @jwt_required(fresh=True)
    def fresh():
        return jsonify(identity=get_jwt_identity())

    @app.route("/refresh", methods=["POST"])
    @jwt_required(refresh=True)
    def refresh():
        return jsonify(identity=get_jwt_identity())

    @app.route("/any")
    @jwt_required(verify_type=False)
    def any_type():
        return jsonify(type=get_jwt()["type"])

    @app.route("/cookies-only")
    @jwt_required(locations=["cookies"])
    def cookies_only():
        return jsonify(identity=get_jwt_identity())

    @app.route("/login", methods=["POST"])
    def login():
        identity = request.get_json()["identity"]
        resp = jsonify(login=True)
        set_access_cookies(resp, create_access_token(identity=identity, fresh=True))
        set_refresh_cookies(resp, create_refresh_token(identity=identity))
        return resp

    @app.route("/login-short", methods=["POST"])
    def login_short():
        resp = jsonify(login=True)
        token = create_access_token(identity=request.get_json()["identity"])
        set_access_cookies(resp, token, max_age=600, domain="api.example.com")
        return resp

    @app.route("/logout", methods=["POST"])
    def logout():
        resp = jsonify(logout=True)
        unset_jwt_cookies(resp)
        return resp

    @app.route("/whoami")
    @jwt_required()
    def whoami():
        claims = get_jwt()
        return jsonify(
            identity=get_jwt_identity(),
            type=claims["type"],
            fresh=claims["fresh"],
            location=get_jwt_request_location(),
        )

    return app


def app_for(config):
    key = json.dumps(config, sort_keys=True)
    app = _apps.get(key)
    if app is None:
        app = _apps[key] = make_app(config)
    return app


def serve(req):
    app = app_for(req.get("config") or {})
    r = req["request"]
    client = app.test_client(use_cookies=False)
    body = r.get("body")
    resp = client.open(
        r["path"],
        method=r["method"],
        headers=[(k, v) for k, v in r.get("headers", [])],
        data=body.encode("utf-8") if body is not None else None,
    )
    return {
        "status": resp.status_code,
        "body": resp.get_data(as_text=True),
        "set_cookie": resp.headers.getlist("Set-Cookie"),
        "content_type": resp.headers.get("Content-Type"),
        "www_authenticate": resp.headers.get("WWW-Authenticate"),
    }


def mint(req):
    app = app_for(req.get("config") or {})
    identity = req["identity"]
    fresh = req.get("fresh", False)
    if not isinstance(fresh, bool):
        fresh = datetime.timedelta(seconds=fresh)
    expires = req.get("expires_seconds")
    if expires is not None and expires is not False:
        expires = datetime.timedelta(seconds=expires)
    claims = req.get("additional_claims")
    headers = req.get("additional_headers")
    with app.app_context():
        if req.get("kind", "access") == "refresh":
            token = create_refresh_token(
                identity=identity,
                expires_delta=expires,
                additional_claims=claims,
                additional_headers=headers,
            )
        else:
            token = create_access_token(
                identity=identity,
                fresh=fresh,
                expires_delta=expires,
                additional_claims=claims,
                additional_headers=headers,
            )
    return {"token": token}


def handle(req):
    op = req.get("op", "request")
    if op == "ping":
        return {
            "versions": {
                "flask": version("flask"),
                "flask_jwt_extended": version("flask-jwt-extended"),
                "pyjwt": version("pyjwt"),
                "werkzeug": version("werkzeug"),
            }
        }
    if op == "request":
        return serve(req)
    if op == "mint":
        return mint(req)
    raise ValueError(f"unknown op {op!r}")


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = handle(json.loads(line))
        except Exception as e:  # noqa: BLE001 - reported to the Rust side
            traceback.print_exc(file=sys.stderr)
            out = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
