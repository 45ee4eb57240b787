//! The reference pages in `docs/` match the code they describe:
//!
//! - `docs/http-api.md` has one `` ### `METHOD /path` `` section per route of the router
//!   (`src/server/mod.rs`), and none for a route that does not exist;
//! - `docs/configuration.md` has one table row per key the configuration file accepts
//!   (`FileConfig` in `src/config.rs`), naming its `JWTX_*` variable, and none for a key that
//!   does not exist;
//! - `docs/cli.md` has one `` ### `jwtx …` `` section per command (from clap's own model of
//!   the command line), and every long flag of a command appears in its section (or in the
//!   introduction of the group it belongs to).

#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn source(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text between backticks of every `### `…`` heading.
fn code_headings(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("### `")?.strip_suffix('`'))
        .map(str::to_owned)
        .collect()
}

fn assert_same(what: &str, code: &BTreeSet<String>, doc: &BTreeSet<String>, page: &str) {
    let missing: Vec<_> = code.difference(doc).collect();
    let extra: Vec<_> = doc.difference(code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{page} is out of date: {what} in the code but not in the page: {missing:?}; \
         in the page but not in the code: {extra:?}"
    );
}

#[test]
fn every_route_has_a_section_in_http_api_md() {
    // `.route("/path", get(handler))`, possibly with several methods chained: the server's
    // own routes and the jwtx-auth router it merges.
    let router = source("src/server/mod.rs")
        + &source("src/server/page.rs")
        + &read("crates/jwtx-auth/src/routes/mod.rs");
    let mut routes = BTreeSet::new();
    for (i, _) in router.match_indices(".route(\"") {
        let rest = &router[i + ".route(\"".len()..];
        let path = &rest[..rest.find('"').unwrap()];
        let call = &rest[..rest.find('\n').unwrap_or(rest.len())];
        for method in ["get", "post", "put", "patch", "delete"] {
            if call.contains(&format!(" {method}(")) || call.contains(&format!(".{method}(")) {
                routes.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    assert!(
        routes.len() >= 15,
        "the router parse found too few routes: {routes:?}"
    );
    assert!(routes.contains("POST /login") && routes.contains("DELETE /sessions/{id}"));
    let doc = read("docs/http-api.md");
    assert_same("routes", &routes, &code_headings(&doc), "docs/http-api.md");
}

#[test]
fn every_configuration_key_has_a_row_in_configuration_md() {
    let config = source("src/config.rs");
    let start = config.find("struct FileConfig {").unwrap();
    let body = &config[start..start + config[start..].find("\n}").unwrap()];
    let keys: BTreeSet<String> = body
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            (!l.starts_with("//"))
                .then(|| l.split_once(": Option<"))
                .flatten()
                .map(|(name, _)| name.to_owned())
        })
        .collect();
    assert!(
        keys.len() >= 25,
        "the FileConfig parse found too few keys: {keys:?}"
    );
    let doc = read("docs/configuration.md");
    let mut rows = BTreeSet::new();
    for line in doc.lines() {
        let Some(key) = line
            .strip_prefix("| `")
            .and_then(|l| l.split_once("` |"))
            .map(|(k, _)| k)
        else {
            continue;
        };
        rows.insert(key.to_owned());
        let env = format!("`JWTX_{}`", key.to_ascii_uppercase());
        assert!(
            line.contains(&env),
            "docs/configuration.md: the row of `{key}` lacks {env}"
        );
    }
    assert_same("keys", &keys, &rows, "docs/configuration.md");
}

/// Every leaf command as `jwtx a b`, with the long flags of the command and its parents.
fn commands(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
    let name = format!("{prefix} {}", cmd.get_name()).trim().to_owned();
    let flags = |c: &clap::Command| -> Vec<String> {
        c.get_arguments()
            .filter(|a| !a.is_global_set())
            .filter_map(|a| a.get_long())
            .filter(|l| !matches!(*l, "help" | "version"))
            .map(|l| format!("--{l}"))
            .collect()
    };
    let subs: Vec<_> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    for sub in &subs {
        commands(sub, &name, out);
    }
    if subs.is_empty() {
        out.push((name, flags(cmd)));
    }
}

#[test]
fn every_command_and_flag_is_in_cli_md() {
    let cli = jwtx_server::cli::Cli::command();
    let mut leaves = Vec::new();
    commands(&cli, "", &mut leaves);
    assert!(leaves.len() >= 15, "{leaves:?}");
    let doc = read("docs/cli.md");
    let names: BTreeSet<String> = leaves.iter().map(|(n, _)| n.clone()).collect();
    assert_same("commands", &names, &code_headings(&doc), "docs/cli.md");

    // Global flags: anywhere on the page.
    for arg in cli.get_arguments().filter_map(|a| a.get_long()) {
        assert!(
            doc.contains(&format!("`--{arg}")),
            "docs/cli.md lacks --{arg}"
        );
    }
    // A command's flags: in its section, or in the introduction of its `## ` group.
    for (name, flags) in &leaves {
        let heading = format!("### `{name}`");
        let at = doc.find(&heading).unwrap();
        let group_start = doc[..at].rfind("\n## ").unwrap();
        let intro_end = doc[group_start..].find("\n### ").unwrap() + group_start;
        let section_end = doc[at + heading.len()..]
            .find("\n#")
            .map_or(doc.len(), |i| i + at + heading.len());
        let text = format!("{}{}", &doc[group_start..intro_end], &doc[at..section_end]);
        for flag in flags {
            assert!(
                text.contains(&format!("`{flag}")),
                "docs/cli.md: the section of `{name}` does not describe {flag}"
            );
        }
    }
}
