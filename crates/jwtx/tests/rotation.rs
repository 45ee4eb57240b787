//! The refresh-token rotation judgement, [`jwtx::store::judge_rotation`], tested directly.
//!
//! Every store (in memory, SQLite, PostgreSQL) hands its locked session to this function and
//! writes the [`Judgement`](jwtx::store::Judgement) it returns, so its answers are the
//! contract: the current token rotates; the token just replaced is honoured while
//! `now < rotated_at + grace`; any other presented `jti` is reuse; a missing, revoked, expired
//! (`now >= expires_at`) or idle (`now - last_used_at > idle_timeout`) session has ended,
//! whatever token is presented. Each boundary is checked on both sides, and properties cover
//! arbitrary times and ids.

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use jwtx::NumericDate;
use jwtx::store::{Judgement, RotationPolicy, Session, judge_rotation};
use proptest::prelude::*;
use proptest::test_runner::Config;

const LOGIN: NumericDate = 1_700_000_000;
/// When the family last rotated (`previous` was replaced) and was last used.
const ROTATED: NumericDate = LOGIN + 600;
/// The session's absolute end.
const END: NumericDate = LOGIN + 86_400;
const GRACE: u64 = 30;
const IDLE: u64 = 3_600;

/// A live family: `cur` is current, `prev` was replaced at `ROTATED`.
fn session() -> Session {
    Session {
        id: "sid-1".into(),
        user: "alice".into(),
        created_at: LOGIN,
        last_used_at: ROTATED,
        expires_at: END,
        user_agent: Some("curl/8".into()),
        ip: Some("127.0.0.1".into()),
        current_jti: "cur".into(),
        previous: Some(("prev".into(), ROTATED)),
        revoked_at: None,
    }
}

fn policy(now: NumericDate) -> RotationPolicy {
    RotationPolicy {
        now,
        grace: GRACE,
        idle_timeout: IDLE,
    }
}

fn judge(s: &Session, jti: &str, now: NumericDate) -> Judgement {
    judge_rotation(Some(s), jti, policy(now))
}

fn grace() -> Judgement {
    Judgement::Grace {
        current_jti: "cur".into(),
    }
}

// ------------------------------------------------------------------------ live sessions

#[test]
fn current_token_rotates() {
    let s = session();
    for now in [ROTATED, ROTATED + 1, ROTATED + GRACE, ROTATED + IDLE] {
        assert_eq!(
            judge(&s, "cur", now),
            Judgement::Rotated,
            "now = ROTATED + {}",
            now - ROTATED
        );
    }
}

#[test]
fn previous_token_within_grace_names_the_current_one() {
    let s = session();
    // The window is [rotated_at, rotated_at + grace).
    for now in [ROTATED, ROTATED + 1, ROTATED + GRACE - 1] {
        assert_eq!(
            judge(&s, "prev", now),
            grace(),
            "now = ROTATED + {}",
            now - ROTATED
        );
    }
}

#[test]
fn grace_carries_whatever_jti_is_current() {
    let mut s = session();
    s.current_jti = "another-current".into();
    assert_eq!(
        judge(&s, "prev", ROTATED + 1),
        Judgement::Grace {
            current_jti: "another-current".into()
        }
    );
}

#[test]
fn previous_token_at_or_after_grace_end_is_reuse() {
    let s = session();
    // `now < at + grace` is strict: the last second of grace is at + grace - 1.
    for now in [ROTATED + GRACE, ROTATED + GRACE + 1, ROTATED + IDLE] {
        assert_eq!(
            judge(&s, "prev", now),
            Judgement::Reused,
            "now = ROTATED + {}",
            now - ROTATED
        );
    }
}

#[test]
fn older_token_is_reuse_even_inside_the_grace_window() {
    let s = session();
    for now in [ROTATED, ROTATED + 1, ROTATED + GRACE, ROTATED + IDLE] {
        for jti in ["older", "", "cur ", "CUR", "prev2", "pre"] {
            assert_eq!(
                judge(&s, jti, now),
                Judgement::Reused,
                "{jti:?} at ROTATED + {}",
                now - ROTATED
            );
        }
    }
}

#[test]
fn without_a_previous_token_any_other_jti_is_reuse() {
    let mut s = session();
    s.previous = None;
    assert_eq!(judge(&s, "prev", ROTATED), Judgement::Reused);
    assert_eq!(judge(&s, "cur", ROTATED), Judgement::Rotated);
}

#[test]
fn grace_zero_turns_the_window_off() {
    let s = session();
    let no_grace = |now| RotationPolicy {
        now,
        grace: 0,
        idle_timeout: IDLE,
    };
    for now in [ROTATED, ROTATED + 1] {
        assert_eq!(
            judge_rotation(Some(&s), "prev", no_grace(now)),
            Judgement::Reused
        );
        assert_eq!(
            judge_rotation(Some(&s), "cur", no_grace(now)),
            Judgement::Rotated
        );
    }
}

#[test]
fn grace_window_end_does_not_overflow() {
    let mut s = session();
    s.previous = Some(("prev".into(), u64::MAX - 1));
    let p = RotationPolicy {
        now: ROTATED,
        grace: u64::MAX,
        idle_timeout: IDLE,
    };
    assert_eq!(judge_rotation(Some(&s), "prev", p), grace());
}

// ------------------------------------------------------------------------ ended sessions

#[test]
fn no_session_has_ended() {
    for jti in ["cur", "prev", "older", ""] {
        assert_eq!(judge_rotation(None, jti, policy(ROTATED)), Judgement::Ended);
    }
}

#[test]
fn revoked_session_has_ended_whatever_the_token() {
    let mut s = session();
    s.revoked_at = Some(ROTATED + 5);
    // Before, at and after the revocation time: `revoked_at` is a fact, not a deadline.
    for now in [ROTATED, ROTATED + 5, ROTATED + 10] {
        for jti in ["cur", "prev", "older"] {
            assert_eq!(
                judge(&s, jti, now),
                Judgement::Ended,
                "{jti} at ROTATED + {}",
                now - ROTATED
            );
        }
    }
}

#[test]
fn absolute_end_is_exclusive() {
    let mut s = session();
    s.last_used_at = END - 10; // not idle
    s.previous = Some(("prev".into(), END - 10));
    // Live while `now < expires_at`.
    assert_eq!(judge(&s, "cur", END - 1), Judgement::Rotated);
    assert_eq!(judge(&s, "prev", END - 1), grace());
    assert_eq!(judge(&s, "older", END - 1), Judgement::Reused);
    for now in [END, END + 1, END + GRACE] {
        for jti in ["cur", "prev", "older"] {
            assert_eq!(
                judge(&s, jti, now),
                Judgement::Ended,
                "{jti} at END + {}",
                now - END
            );
        }
    }
}

#[test]
fn idle_beyond_the_timeout_has_ended() {
    let s = session();
    // Idle means `now - last_used_at > idle_timeout`: exactly the timeout is still live.
    assert_eq!(judge(&s, "cur", ROTATED + IDLE), Judgement::Rotated);
    assert_eq!(judge(&s, "older", ROTATED + IDLE), Judgement::Reused);
    for now in [ROTATED + IDLE + 1, ROTATED + IDLE + 2] {
        for jti in ["cur", "prev", "older"] {
            assert_eq!(
                judge(&s, jti, now),
                Judgement::Ended,
                "{jti} at ROTATED + {}",
                now - ROTATED
            );
        }
    }
}

#[test]
fn idle_timeout_counts_from_last_use_not_login() {
    let mut s = session();
    s.last_used_at = ROTATED + 1_000;
    assert_eq!(judge(&s, "cur", ROTATED + 1_000 + IDLE), Judgement::Rotated);
    assert_eq!(
        judge(&s, "cur", ROTATED + 1_000 + IDLE + 1),
        Judgement::Ended
    );
}

#[test]
fn last_use_after_now_is_not_idle() {
    // A clock that stepped back must not wrap the idle arithmetic into "idle for ever".
    let mut s = session();
    s.last_used_at = ROTATED + 100;
    assert_eq!(judge(&s, "cur", ROTATED), Judgement::Rotated);
}

#[test]
fn ended_outranks_reuse() {
    // A replayed token on a session that has ended is `Ended`, not `Reused` (nothing to revoke).
    let mut s = session();
    s.revoked_at = Some(ROTATED);
    assert_eq!(judge(&s, "older", ROTATED + GRACE + 1), Judgement::Ended);
    let s = session();
    assert_eq!(judge(&s, "older", END), Judgement::Ended);
    assert_eq!(judge(&s, "older", ROTATED + IDLE + 1), Judgement::Ended);
}

// ------------------------------------------------------------------------ properties

fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// Short ids from a small alphabet, so current, previous and presented often collide.
fn jti() -> impl Strategy<Value = String> {
    "[ab]{0,2}"
}

/// A session live at `now` under `idle_timeout`, with its previous token rotated at
/// `now - since` (any `since`, so inside and outside any grace window).
fn live_session() -> impl Strategy<Value = (Session, RotationPolicy)> {
    (
        0u64..1_000_000, // idle_timeout
        0u64..=1,        // fraction of idle_timeout since last use (0 or all of it)
        0u64..1_000_000, // seconds since last use, capped at idle_timeout below
        1u64..1_000_000, // seconds to the absolute end
        0u64..100,       // grace
        0u64..200,       // seconds since the rotation
        prop::option::of(jti()),
        jti(),
    )
        .prop_map(
            |(idle_timeout, at_limit, since_use, to_end, grace, since_rotation, prev, cur)| {
                let now = LOGIN + 2_000_000;
                let since_use = if at_limit == 1 {
                    idle_timeout
                } else {
                    since_use.min(idle_timeout)
                };
                let s = Session {
                    id: "sid".into(),
                    user: "u".into(),
                    created_at: LOGIN,
                    last_used_at: now - since_use,
                    expires_at: now + to_end,
                    user_agent: None,
                    ip: None,
                    current_jti: cur,
                    previous: prev.map(|p| (p, now - since_rotation)),
                    revoked_at: None,
                };
                (
                    s,
                    RotationPolicy {
                        now,
                        grace,
                        idle_timeout,
                    },
                )
            },
        )
}

proptest! {
    #![proptest_config(config())]

    /// A replayed `jti` (neither current nor the previous one within grace) on a live session
    /// is always reuse: never rotated, never honoured, never mistaken for an ended session.
    #[test]
    fn replay_on_a_live_session_is_always_reuse(
        (s, p) in live_session(),
        presented in jti(),
    ) {
        prop_assume!(presented != s.current_jti);
        let in_grace = s
            .previous
            .as_ref()
            .is_some_and(|(prev, at)| *prev == presented && p.now < at + p.grace);
        prop_assume!(!in_grace);
        prop_assert_eq!(judge_rotation(Some(&s), &presented, p), Judgement::Reused);
    }

    /// On a live session the current token always rotates, and the previous one within grace
    /// is always honoured with the current `jti` (unless it is also the current one).
    #[test]
    fn live_session_honours_current_and_grace((s, p) in live_session()) {
        prop_assert_eq!(judge_rotation(Some(&s), &s.current_jti, p), Judgement::Rotated);
        if let Some((prev, at)) = &s.previous
            && *prev != s.current_jti
        {
            let expected = if p.now < at + p.grace {
                Judgement::Grace { current_jti: s.current_jti.clone() }
            } else {
                Judgement::Reused
            };
            prop_assert_eq!(judge_rotation(Some(&s), prev, p), expected);
        }
    }

    /// A session that is revoked, past its end or idle has ended, whatever is presented.
    #[test]
    fn ended_session_is_ended_for_any_token(
        (mut s, p) in live_session(),
        presented in jti(),
        how in 0u8..3,
        by in 0u64..1_000,
    ) {
        match how {
            0 => s.revoked_at = Some(p.now.saturating_sub(by)),
            1 => s.expires_at = p.now - by,
            _ => s.last_used_at = p.now - p.idle_timeout - 1 - by,
        }
        prop_assert_eq!(judge_rotation(Some(&s), &presented, p), Judgement::Ended);
        prop_assert_eq!(judge_rotation(Some(&s), &s.current_jti, p), Judgement::Ended);
    }
}
