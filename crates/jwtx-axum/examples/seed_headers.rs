//! Seed document 000 ("Securing Flask APIs with JWT") ported to jwtx-axum: a login route that
//! returns an access token, and a route that needs it in `Authorization: Bearer <JWT>`.
//!
//! ```sh
//! JWT_SECRET_KEY=$(openssl rand -hex 32) cargo run -p jwtx-axum --example seed_headers
//! ```
//!
//! Listens on 127.0.0.1:5000 (or `$PORT`). The curl session is in the crate's README.

#![allow(missing_docs)]

use std::env;
use std::error::Error;
use std::process::ExitCode;

use aws_lc_rs::constant_time;
use aws_lc_rs::digest::{SHA256, digest};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jwtx::{Algorithm, Codec, Key};
use jwtx_axum::{Jwt, JwtConfig, JwtManager};
use serde_json::{Value, json};

/// `users = {'user1': 'password1'}`: the mock user database.
const USERS: &[(&str, &str)] = &[("user1", "password1")];

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The app: configuration, callbacks and routes, then serve.
async fn run() -> Result<(), Box<dyn Error>> {
    // app.config['JWT_SECRET_KEY'] = …; jwt = JWTManager(app)
    // (flask-jwt-extended's defaults: tokens in the Authorization header, 15-minute access tokens)
    let codec = Codec::new(signing_key()?);
    let jwt = JwtManager::builder(codec)
        .config(JwtConfig::flask_jwt_extended())
        .build();

    let app = Router::new()
        .route("/login", post(login)) // @app.route('/login', methods=['POST'])
        .route("/protected", get(protected)) // @app.route('/protected', methods=['GET'])
        .with_state(jwt);
    serve(app).await
}

/// `login()`: checks the credentials and returns `{"access_token": …}`.
async fn login(State(jwt): State<JwtManager>, Json(data): Json<Value>) -> Response {
    // data = request.get_json(); data.get('username'); data.get('password')
    let username = data.get("username").and_then(Value::as_str);
    let password = data.get("password").and_then(Value::as_str);
    let known = USERS.iter().find(|(name, _)| Some(*name) == username);
    match (known, password) {
        (Some((name, expected)), Some(given)) if same(expected, given) => {
            // access_token = create_access_token(identity=username)
            match jwt.access_token(*name).sign() {
                Ok(issued) => jsonify(StatusCode::OK, json!({ "access_token": issued.token })),
                Err(_) => jsonify(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "msg": "Could not create the token" }),
                ),
            }
        }
        _ => jsonify(
            StatusCode::UNAUTHORIZED,
            json!({ "msg": "Bad username or password" }),
        ),
    }
}

/// `@jwt_required()` is the `Jwt` extractor; `get_jwt_identity()` is `jwt.identity()`.
async fn protected(jwt: Jwt) -> Response {
    jsonify(StatusCode::OK, json!({ "logged_in_as": jwt.identity() }))
}

// ---------------------------------------------------------------- plumbing

/// The HS256 key from `JWT_SECRET_KEY` (at least 32 bytes), or a random one for this run.
fn signing_key() -> Result<Key, Box<dyn Error>> {
    match env::var_os("JWT_SECRET_KEY") {
        Some(secret) => Key::hmac(Algorithm::HS256, secret.as_encoded_bytes())
            .map_err(|e| format!("JWT_SECRET_KEY: {e}").into()),
        None => {
            eprintln!(
                "JWT_SECRET_KEY is not set: signing with a random secret generated for this run \
                 (tokens stop working when the process exits)"
            );
            Ok(Key::hmac(
                Algorithm::HS256,
                jwtx::secret_hex::<32>().as_bytes(),
            )?)
        }
    }
}

/// Flask's `jsonify`: compact JSON, sorted keys, a trailing newline.
fn jsonify(status: StatusCode, body: Value) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/json")];
    (status, headers, format!("{body}\n")).into_response()
}

/// Compares two passwords in constant time: their SHA-256 digests (32 bytes whatever the
/// lengths) are compared, so neither a length mismatch nor the first differing byte shows in
/// the timing. (A real user store keeps password hashes.)
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (digest(&SHA256, a.as_bytes()), digest(&SHA256, b.as_bytes()));
    constant_time::verify_slices_are_equal(a.as_ref(), b.as_ref()).is_ok()
}

/// `app.run(port=5000)`, on 127.0.0.1 and `$PORT` if set.
async fn serve(app: Router) -> Result<(), Box<dyn Error>> {
    let port: u16 = match env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 5000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
