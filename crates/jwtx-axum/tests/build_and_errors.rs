//! A manager whose configuration cannot work is refused when it is built; a store failure
//! behind a callback keeps its cause as the rejection's source.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::error::Error as _;

use axum::extract::FromRequestParts;
use http::Request;
use jwtx::store::StoreError;
use jwtx::{Algorithm, Codec, Key};
use jwtx_axum::{ErrorKind, Jwt, JwtConfig, JwtManager, Location};

fn codec() -> Codec {
    Codec::new(Key::hmac(Algorithm::HS256, b"a 32+ byte secret for these tests!").unwrap())
}

fn try_build(config: JwtConfig) -> Result<JwtManager, jwtx_axum::BuildError> {
    JwtManager::builder(codec()).config(config).try_build()
}

fn all_locations() -> JwtConfig {
    let mut c = JwtConfig::default();
    c.token_location = vec![
        Location::Headers,
        Location::Cookies,
        Location::QueryString,
        Location::Json,
    ];
    c.csrf_check_form = true;
    c
}

#[test]
fn usable_configurations_build() {
    for c in [
        JwtConfig::default(),
        JwtConfig::flask_jwt_extended(),
        all_locations(),
    ] {
        try_build(c).unwrap();
    }
    // Names only a location that is not configured needs are not checked.
    let mut c = JwtConfig::default();
    c.query_string_name.clear();
    c.json_key.clear();
    c.access_cookie_name = "not a cookie name".into();
    c.body_limit = 0;
    try_build(c).unwrap();
    // CSRF cookie names matter only when CSRF values travel in cookies.
    let mut c = all_locations();
    c.csrf_in_cookies = false;
    c.access_csrf_cookie_name.clear();
    try_build(c).unwrap();
    let mut c = all_locations();
    c.csrf_protect = false;
    c.refresh_csrf_cookie_name.clear();
    c.access_csrf_field_name.clear();
    try_build(c).unwrap();
}

#[test]
fn unusable_configurations_are_refused_at_build() {
    type Spoil = fn(&mut JwtConfig);
    let cases: [(&str, Spoil); 11] = [
        ("token_location", |c| c.token_location.clear()),
        ("header_name", |c| c.header_name = "Bad Header".into()),
        ("header_name", |c| c.header_name.clear()),
        ("query_string_name", |c| c.query_string_name.clear()),
        ("json_key", |c| c.json_key.clear()),
        ("refresh_json_key", |c| c.refresh_json_key.clear()),
        ("body_limit", |c| c.body_limit = 0),
        ("access_cookie_name", |c| {
            c.access_cookie_name = "a;b".into()
        }),
        ("refresh_cookie_name", |c| c.refresh_cookie_name.clear()),
        ("access_csrf_cookie_name", |c| {
            c.access_csrf_cookie_name.clear()
        }),
        ("refresh_csrf_field_name", |c| {
            c.refresh_csrf_field_name.clear()
        }),
    ];
    for (field, spoil) in cases {
        let mut c = all_locations();
        spoil(&mut c);
        let e = try_build(c).expect_err(field);
        assert_eq!(e.field(), field, "{e}");
        assert!(
            e.to_string().starts_with(&format!("JwtConfig::{field} ")),
            "{e}"
        );
    }
}

#[test]
#[should_panic(expected = "JwtManagerBuilder::build: JwtConfig::token_location is empty")]
fn build_panics_on_what_try_build_refuses() {
    let mut c = JwtConfig::default();
    c.token_location.clear();
    let _ = JwtManager::builder(codec()).config(c).build();
}

#[tokio::test]
async fn a_failed_revocation_check_keeps_the_store_error_as_its_source() {
    let jwt = JwtManager::builder(codec())
        .revocation_check(|_token| async {
            let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
            Err::<bool, _>(StoreError::unavailable("connect").with_source(refused))
        })
        .build();
    let token = jwt.access_token("alice").sign().unwrap().token;
    let (mut parts, ()) = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();
    let rejection = Jwt::<jwtx::NoClaims>::from_request_parts(&mut parts, &jwt)
        .await
        .unwrap_err();
    let error = rejection.error();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        error.to_string(),
        "store unavailable: store unavailable: connect"
    );
    let store = error.source().expect("the callback's error is the source");
    let store = store
        .downcast_ref::<StoreError>()
        .expect("still a StoreError");
    assert_eq!(
        store,
        &StoreError::unavailable("connect").with_source(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused"
        ),)
    );
    let io = store
        .source()
        .and_then(|e| e.downcast_ref::<std::io::Error>());
    assert_eq!(
        io.map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    // The per-request cache and the rejection hold clones: the source survives them.
    assert!(error.clone().source().is_some());
}
