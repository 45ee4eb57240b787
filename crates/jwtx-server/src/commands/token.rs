//! `jwtx token mint | verify | inspect`.

use jwtx::{Codec, TokenKind, dangerous};
use serde_json::{Map, Value};

use crate::cli::{MintType, VerifyType};
use crate::error::CliError;

/// Parses `KEY=JSON` claim flags into an object.
pub(crate) fn parse_claims(flags: &[String]) -> Result<Map<String, Value>, CliError> {
    let mut out = Map::new();
    for flag in flags {
        let Some((k, v)) = flag.split_once('=') else {
            return Err(CliError::usage(format!(
                "--claim {flag:?} is not KEY=JSON (e.g. --claim 'roles=[\"admin\"]')"
            )));
        };
        let value: Value = serde_json::from_str(v).map_err(|e| {
            CliError::usage(format!(
                "--claim {k}: {v:?} is not JSON ({e}); quote strings: --claim '{k}=\"{v}\"'"
            ))
        })?;
        if jwtx::REGISTERED.contains(&k) {
            return Err(CliError::usage(format!(
                "--claim {k}: {k:?} is set by jwtx; use --sub, --type, --fresh or --expires"
            )));
        }
        if out.insert(k.to_owned(), value).is_some() {
            return Err(CliError::usage(format!("--claim {k} is given twice")));
        }
    }
    Ok(out)
}

/// Mints a token.
pub(crate) fn mint(
    codec: &Codec,
    sub: &str,
    kind: MintType,
    fresh: bool,
    expires: Option<std::time::Duration>,
    claims: Map<String, Value>,
) -> Result<String, CliError> {
    let builder = match kind {
        MintType::Access => codec.access_token(sub).fresh(fresh),
        MintType::Refresh => codec.refresh_token(sub),
    };
    let builder = match expires {
        Some(d) => builder.expires_in(d),
        None => builder,
    };
    let issued = builder
        .claims(claims)
        .sign()
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(issued.token)
}

/// Verifies a token and returns its claims (registered then application) as pretty JSON.
pub(crate) fn verify(codec: &Codec, token: &str, kind: VerifyType) -> Result<String, CliError> {
    let reject = |e: jwtx::Error| super::rejection("token", &e);
    let verified = codec.verify::<Map<String, Value>>(token).map_err(reject)?;
    verified
        .require(match kind {
            VerifyType::Access => TokenKind::Access,
            VerifyType::Refresh => TokenKind::Refresh,
            VerifyType::Any => TokenKind::Any,
        })
        .map_err(reject)?;
    let (_, registered, custom) = verified.into_parts();
    let mut out = match serde_json::to_value(&registered) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    out.extend(custom);
    Ok(pretty(&Value::Object(out)))
}

/// Decodes without verification; the output says so in its first member.
pub(crate) fn inspect(token: &str) -> Result<String, CliError> {
    let u = dangerous::decode_unverified(token, jwtx::jws::DEFAULT_MAX_TOKEN_LEN)
        .map_err(|e| CliError::rejected(format!("not a decodable token: {}", e.message())))?;
    let mut out = Map::new();
    out.insert(
        "warning".into(),
        "UNVERIFIED: signature and claims were not checked".into(),
    );
    out.insert("header".into(), u.header);
    out.insert("claims".into(), u.claims);
    Ok(pretty(&Value::Object(out)))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}
