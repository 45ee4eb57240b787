//! `jwtx revoke --jti JTI [--until …] | --user NAME`: appends to the store's revocation log,
//! which a running `jwtx serve` follows every 500 ms, so the revocation takes effect there
//! within a second (and at start for a server started later).
//!
//! * `--jti`: [`Revocation::Token`]. The CLI does not see the token, so the entry is kept
//!   until `--until` (the token's `exp` as Unix seconds, or a duration from now), by default
//!   for the longest token lifetime configured (`max(access_token_expires,
//!   refresh_token_expires)`), the longest a token the server issued can live.
//! * `--user`: every live session of the user ends and one [`Revocation::User`] cut-off at the
//!   store's clock revokes every token of theirs issued until then (its second included),
//!   tokens outside sessions too (e.g. from `jwtx token mint`), in one store transaction
//!   ([`SessionStore::end_user_sessions`], as the server's `POST /logout/all`). Tokens issued
//!   after that work again. An unknown user name is refused (exit 2), so a typo never
//!   looks like a successful revocation; the server refuses tokens of names without an
//!   account anyway.
//!
//! Exit status 2 for every failure (bad arguments, unknown user, the store).

use crate::data::Store;
use jwtx::store::Revocation;
use jwtx::{Clock, NumericDate, SystemClock};

use super::user::{no_such_user, store_error, utc, with_store};
use crate::cli::RevokeArgs;
use crate::config::Config;
use crate::error::CliError;

/// Longest `jti` accepted, in bytes.
pub(crate) const MAX_JTI_BYTES: usize = 256;
/// The latest `--until` accepted: 9999-12-31T23:59:59Z.
pub(crate) const MAX_UNTIL: NumericDate = 253_402_300_799;

/// Runs `jwtx revoke`; returns what to print on standard output.
pub(crate) fn run(config: &Config, args: &RevokeArgs) -> Result<String, CliError> {
    match (&args.jti, &args.user) {
        (Some(jti), None) => {
            check_jti(jti)?;
            let now = SystemClock.now();
            let until = match &args.until {
                Some(s) => parse_until(s, now)?,
                None => now.saturating_add(config.longest_token_lifetime()),
            };
            with_store(config, |store| async move {
                append(
                    &store,
                    config,
                    Revocation::Token {
                        jti: jti.clone(),
                        until,
                    },
                )
                .await?;
                tracing::info!(target: "audit", event = "revocation", kind = "token", jti = %jti, until, source = "cli");
                Ok(format!(
                    "revoked token {jti} (kept in the revocation log until {})",
                    utc(until)
                ))
            })
        }
        (None, Some(user)) => with_store(config, |store| async move {
            if store.get_user(user).await.map_err(store_error)?.is_none() {
                return Err(no_such_user(user));
            }
            let ended = end_user_tokens(&store, config, user).await?;
            tracing::info!(target: "audit", event = "revocation", kind = "user", user = %user, sessions_ended = ended, source = "cli");
            Ok(format!(
                "revoked every token of {user} issued until now ({ended} session(s) ended)"
            ))
        }),
        // clap requires exactly one of them.
        _ => Err(CliError::usage(
            "give exactly one of --jti JTI and --user NAME",
        )),
    }
}

/// Appends one revocation to the log, durably, then tells the deployment's instances.
pub(crate) async fn append(
    store: &Store,
    config: &Config,
    revocation: Revocation,
) -> Result<u64, CliError> {
    let id = store.revoke(revocation).await.map_err(|e| {
        CliError::store(
            "the revocation could not be stored, so nothing was revoked",
            e,
        )
    })?;
    crate::data::announce(config, store).await;
    Ok(id)
}

/// Ends every live session of `user` and revokes every token of theirs issued until now: one
/// store transaction, one log entry (the server's `POST /logout/all` makes the same call);
/// returns how many sessions ended.
pub(crate) async fn end_user_tokens(
    store: &Store,
    config: &Config,
    user: &str,
) -> Result<u64, CliError> {
    let ended = store
        .end_user_sessions(user, None, config.longest_token_lifetime())
        .await
        .map_err(|e| {
            CliError::store(
                "the revocation could not be stored, so nothing was revoked",
                e,
            )
        })?;
    crate::data::announce(config, store).await;
    Ok(ended.sessions)
}

/// Checks a `jti`: non-empty, at most [`MAX_JTI_BYTES`], no whitespace or control characters.
pub(crate) fn check_jti(jti: &str) -> Result<(), CliError> {
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(CliError::usage(format!(
            "--jti must be 1 to {MAX_JTI_BYTES} bytes (the token's `jti` claim; `jwtx token \
             inspect TOKEN` shows it)"
        )));
    }
    if jti.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::usage(format!(
            "--jti {jti:?} contains whitespace or a control character; give the token's `jti` \
             claim (`jwtx token inspect TOKEN` shows it)"
        )));
    }
    Ok(())
}

/// `--until`: Unix seconds (all digits) or a duration from `now` (`15m`, `30d`); must be in
/// the future and at most [`MAX_UNTIL`].
pub(crate) fn parse_until(s: &str, now: NumericDate) -> Result<NumericDate, CliError> {
    let s = s.trim();
    let until = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>().unwrap_or(u64::MAX)
    } else {
        let d = crate::config::parse_duration(s).map_err(|e| {
            CliError::usage(format!(
                "--until: {e}, or give the token's `exp` as Unix seconds"
            ))
        })?;
        now.saturating_add(d.as_secs())
    };
    if until <= now {
        return Err(CliError::usage(format!(
            "--until {s} is not in the future: a token that expired by then is refused anyway; \
             give the token's `exp` or a duration from now such as 15m"
        )));
    }
    if until > MAX_UNTIL {
        return Err(CliError::usage(format!(
            "--until {s} is after {}",
            utc(MAX_UNTIL)
        )));
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn until_is_an_epoch_or_a_duration_in_the_future() {
        let now = 1_700_000_000;
        assert_eq!(parse_until("1700000900", now).unwrap(), 1_700_000_900);
        assert_eq!(parse_until("15m", now).unwrap(), now + 900);
        assert_eq!(parse_until("30d", now).unwrap(), now + 30 * 86_400);
        for bad in [
            "",
            "0",
            "1700000000",
            "0s",
            "15", // digits alone are Unix seconds: long past
            "-5",
            "1e9",
            "15 m",
            "99999999999999999999999",
        ] {
            assert!(parse_until(bad, now).is_err(), "{bad:?}");
        }
        assert!(parse_until("253402300800", now).is_err());
    }

    #[test]
    fn jti_rules() {
        assert!(check_jti("0b6f8c1e-6a8e-4d55-9c1d-1f1e2a3b4c5d").is_ok());
        for bad in ["", "a b", "a\n", &"j".repeat(257)] {
            assert!(check_jti(bad).is_err(), "{bad:?}");
        }
    }
}
