//! `jwtx service add | list | remove`: the services allowed to read the revocation feed
//! (`GET /revocations`), in the same store as `jwtx serve` (safe while it runs).
//!
//! * `add` prints the new credential on standard output, alone and only this once:
//!   `jwtxsvc_` and the base64url of 256 random bits from the system CSPRNG. The store keeps
//!   its SHA-256 digest; nothing can show the credential again (remove the service and add it
//!   again to replace a lost one).
//! * `remove` takes effect at the next request; a running server ends the service's open
//!   streams within a heartbeat.
//! * Exit status 2 for a bad or taken name and an unknown service, 3 when the store fails.
//! * Each change is an audit event (target `audit`) with the service's name, never its
//!   credential or digest.

use jwtx::store::{Service, ServiceCredential, StoreError};
use jwtx::{Clock, SystemClock};
use serde_json::json;

use crate::cli::ServiceCommand;
use crate::commands::user::{store_error, utc, with_store};
use crate::config::Config;
use crate::error::CliError;

/// The longest service name, in bytes.
const MAX_SERVICE_NAME: usize = 128;

/// Runs one `jwtx service …` command; returns what to print on standard output.
pub(crate) fn run(config: &Config, command: &ServiceCommand) -> Result<String, CliError> {
    if let ServiceCommand::Add { name } = command {
        check_name(name)?;
    }
    with_store(config, |store| async move {
        let services = store.services();
        match command {
            ServiceCommand::Add { name } => {
                let credential = ServiceCredential::generate();
                let added = services
                    .add_service(Service {
                        name: name.clone(),
                        digest: credential.digest(),
                        created_at: SystemClock.now(),
                    })
                    .await;
                match added {
                    Ok(()) => {}
                    Err(StoreError::Conflict { .. }) => {
                        return Err(CliError::usage(format!(
                            "service {name:?} exists already; pick another name, or remove it \
                             first (`jwtx service remove {name}`) to issue a new credential"
                        )));
                    }
                    Err(e) => return Err(store_error(e)),
                }
                tracing::info!(target: "audit", event = "service_added", service = %name, source = "cli");
                Ok(credential.expose().to_owned())
            }
            ServiceCommand::List { json } => list(&*services, *json).await,
            ServiceCommand::Remove { name } => {
                if !services.remove_service(name).await.map_err(store_error)? {
                    return Err(CliError::usage(format!(
                        "there is no service {name:?}; `jwtx service list` shows the services"
                    )));
                }
                tracing::info!(target: "audit", event = "service_removed", service = %name, source = "cli");
                Ok(format!(
                    "removed service {name}: its credential is refused from now on (a running \
                     server ends its open streams within a heartbeat)"
                ))
            }
        }
    })
}

async fn list(services: &dyn jwtx::store::ServiceStore, json: bool) -> Result<String, CliError> {
    let all = services.list_services().await.map_err(store_error)?;
    if json {
        let out: Vec<_> = all
            .iter()
            .map(|s| json!({"name": s.name, "created_at": s.created_at}))
            .collect();
        return serde_json::to_string_pretty(&out)
            .map_err(|e| CliError::runtime(format!("cannot format the list: {e}")));
    }
    if all.is_empty() {
        return Ok("no services (add one with `jwtx service add NAME`)".to_owned());
    }
    let width = all
        .iter()
        .map(|s| s.name.chars().count())
        .chain(["NAME".len()])
        .max()
        .unwrap_or(0);
    let mut out = vec![format!("{:<width$}  CREATED", "NAME")];
    out.extend(
        all.iter()
            .map(|s| format!("{:<width$}  {}", s.name, utc(s.created_at))),
    );
    Ok(out.join("\n"))
}

/// A service name: 1 to [`MAX_SERVICE_NAME`] bytes of ASCII letters, digits, `.`, `_`, `-`
/// (it appears in audit lines and tables as it is).
fn check_name(name: &str) -> Result<(), CliError> {
    let fine = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if name.is_empty() || name.len() > MAX_SERVICE_NAME || !name.bytes().all(fine) {
        return Err(CliError::usage(format!(
            "a service name is 1 to {MAX_SERVICE_NAME} letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["billing", "search-api.v2", "A_1", &"x".repeat(128)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "é", "a/b", "a\nb", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
