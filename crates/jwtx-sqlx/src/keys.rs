//! What the SQLite and PostgreSQL key stores share beyond reading rows: the `signing_keys`
//! columns they select, and the order in which `add_pending` refuses (as the memory store
//! does), so both stores refuse alike.

use jwtx::store::{StoreError, active_changed, pending_exists};

/// Every `signing_keys` column, as [`key_from_row`](crate::rows::key_from_row) reads them.
macro_rules! key_columns {
    () => {
        "kid, alg, status, private_pem, created_at, activates_at, demoted_at, retired_at"
    };
}
pub(crate) use key_columns;

/// The conflict of a key whose `kid` is stored already (whatever its status).
pub(crate) fn kid_taken(kid: &str) -> StoreError {
    StoreError::Conflict {
        what: format!("a signing key with kid {kid:?} exists"),
    }
}

/// What the store holds that `add_pending` checks, read under the store's key lock.
#[derive(Debug, Default)]
pub(crate) struct PendingChecks {
    /// The new key's `kid` is stored already.
    pub(crate) kid_taken: bool,
    /// The pending key's `kid`, if one is pending.
    pub(crate) pending: Option<String>,
    /// The active key's `kid`, if one is active.
    pub(crate) active: Option<String>,
}

impl PendingChecks {
    /// Notes a row of (kid, status) read for the new key `kid`.
    pub(crate) fn note(&mut self, kid: &str, row_kid: String, status: &str) {
        if row_kid == kid {
            self.kid_taken = true;
        }
        match status {
            "pending" => self.pending = Some(row_kid),
            "active" => self.active = Some(row_kid),
            _ => {}
        }
    }

    /// `add_pending`'s refusal, in the memory store's order: a taken kid, a key pending
    /// already, no active key or not the expected one. `None`: the key may be added.
    pub(crate) fn refusal(&self, kid: &str, expected_active: Option<&str>) -> Option<StoreError> {
        if self.kid_taken {
            return Some(kid_taken(kid));
        }
        if let Some(p) = &self.pending {
            return Some(pending_exists(p));
        }
        match (&self.active, expected_active) {
            (None, _) => Some(active_changed(expected_active)),
            (Some(a), Some(e)) if a != e => Some(active_changed(expected_active)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(rows: &[(&str, &str)], kid: &str) -> PendingChecks {
        let mut c = PendingChecks::default();
        for (k, s) in rows {
            c.note(kid, (*k).to_owned(), s);
        }
        c
    }

    #[test]
    fn refuses_in_the_memory_stores_order() {
        let taken = checks(
            &[("new", "passive"), ("p", "pending"), ("a", "active")],
            "new",
        );
        assert_eq!(taken.refusal("new", Some("a")), Some(kid_taken("new")));
        let pending = checks(&[("p", "pending"), ("a", "active")], "new");
        assert_eq!(pending.refusal("new", Some("a")), Some(pending_exists("p")));
        let none = checks(&[("old", "passive")], "new");
        assert_eq!(none.refusal("new", None), Some(active_changed(None)));
        let active = checks(&[("a", "active")], "new");
        assert_eq!(
            active.refusal("new", Some("b")),
            Some(active_changed(Some("b")))
        );
        assert_eq!(active.refusal("new", Some("a")), None);
        assert_eq!(active.refusal("new", None), None);
        // The empty kid is a kid like any other.
        let empty = checks(&[("", "active")], "");
        assert_eq!(empty.refusal("", Some("")), Some(kid_taken("")));
        assert_eq!(checks(&[("", "active")], "n").refusal("n", Some("")), None);
    }
}
