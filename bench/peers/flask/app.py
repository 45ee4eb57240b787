"""Benchmark peer for bench/run: the second seed document's Flask app, on flask-jwt-extended 4.7.4.

The second seed document of the jwtx project was written against the 3.x API (`@jwt_required` without
parentheses, `jwt_refresh_token_required`, `get_raw_jwt`, `token_in_blacklist_loader`); this is
the same app on the 4.x API, with the changes a team would make to run it for real:

* tokens are read from headers AND cookies (`JWT_TOKEN_LOCATION = ["headers", "cookies"]`), and
  `/login` and `/refresh` return the tokens in the JSON body as well as setting the cookies;
* CSRF double submit is on for cookie tokens (`JWT_COOKIE_CSRF_PROTECT`, the 4.x name of the
  seed's `JWT_CSRF_PROTECTION`); `JWT_COOKIE_SECURE` is off (plain HTTP on 127.0.0.1);
* the blocklist is a SQLite table (WAL mode) instead of a per-process `set()`, so every gunicorn
  worker sees every revocation; `token_in_blocklist_loader` runs one indexed SELECT per request;
* `/logout` revokes the presented token (the seed's commented-out "optionally blacklist the
  jti") and unsets the cookies;
* lifetimes as in the seed: access 5 minutes, refresh 7 days; users and plaintext password
  comparison as in the seed (no password hashing: this peer's `/login` does no KDF work);
* `GET /healthz` for the harness's readiness check.

Environment: `JWT_SECRET_KEY` (default the seed's "super-secret-jwt-key"), `BLOCKLIST_DB` (path
of the SQLite file, default ./blocklist.db).
"""

import os
import sqlite3
import threading
import time
from datetime import timedelta

from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)

# --- Configuration ---
app = Flask(__name__)

app.config["JWT_SECRET_KEY"] = os.environ.get("JWT_SECRET_KEY", "super-secret-jwt-key")
app.config["JWT_TOKEN_LOCATION"] = ["headers", "cookies"]
app.config["JWT_COOKIE_SECURE"] = False  # plain HTTP on the loopback interface
app.config["JWT_COOKIE_CSRF_PROTECT"] = True
app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(minutes=5)
app.config["JWT_REFRESH_TOKEN_EXPIRES"] = timedelta(days=7)

jwt = JWTManager(app)

# --- Blocklist in SQLite, shared by every worker process and thread ---
BLOCKLIST_DB = os.environ.get("BLOCKLIST_DB", "blocklist.db")
_local = threading.local()


def _connect():
    conn = sqlite3.connect(BLOCKLIST_DB, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS blocklist ("
        " jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL)"
    )
    return conn


def db():
    """This thread's connection (sqlite3 connections are not shared between threads)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = _connect()
    return conn


@jwt.token_in_blocklist_loader
def check_if_token_revoked(jwt_header, jwt_payload):
    row = db().execute("SELECT 1 FROM blocklist WHERE jti = ?", (jwt_payload["jti"],)).fetchone()
    return row is not None


# --- Dummy user data, as in the seed ---
users = {
    "testuser": {"password": "testpass", "roles": ["user"]},
    "admin": {"password": "adminpass", "roles": ["admin", "user"]},
}


# --- Routes ---
@app.route("/login", methods=["POST"])
def login():
    body = request.get_json(silent=True) or {}
    username = body.get("username", None)
    password = body.get("password", None)

    user_data = users.get(username)
    if not user_data or not user_data["password"] == password:
        return jsonify({"msg": "Bad username or password"}), 401

    access_token = create_access_token(identity=username, fresh=True)
    refresh_token = create_refresh_token(identity=username)

    resp = jsonify({"login": True, "access_token": access_token, "refresh_token": refresh_token})
    set_access_cookies(resp, access_token)
    set_refresh_cookies(resp, refresh_token)
    return resp, 200


@app.route("/protected", methods=["GET"])
@jwt_required()
def protected():
    return jsonify(logged_in_as=get_jwt_identity()), 200


@app.route("/refresh", methods=["POST"])
@jwt_required(refresh=True)
def refresh():
    current_user = get_jwt_identity()
    new_access_token = create_access_token(identity=current_user)
    resp = jsonify({"refresh": True, "access_token": new_access_token})
    set_access_cookies(resp, new_access_token)
    return resp, 200


@app.route("/logout", methods=["POST"])
@jwt_required(optional=True, verify_type=False)
def logout():
    token = get_jwt()
    if token:
        db().execute(
            "INSERT OR IGNORE INTO blocklist (jti, expires_at, created_at) VALUES (?, ?, ?)",
            (token["jti"], int(token["exp"]), int(time.time())),
        )
    resp = jsonify({"logout": True})
    unset_jwt_cookies(resp)
    return resp, 200


@app.route("/healthz", methods=["GET"])
def healthz():
    return jsonify(status="ok"), 200


# Create the table (and switch the file to WAL) once, before gunicorn forks its workers.
_connect().close()

if __name__ == "__main__":
    app.run(port=5000)
