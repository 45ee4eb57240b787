//! Log lines on stderr for `jwtx serve` and the admin commands: text or JSON, colours only on
//! a terminal, `RUST_LOG` filtering (else `default_filter`).
//!
//! A line written while `jwtx serve` answers a request carries that request's id, method and
//! path (never its query string, which may hold a token, and never headers, which hold
//! credentials). They come from [`REQUEST`], a scoped thread-local that `server::requests` sets
//! while it polls the request's future, not from a tracing span (ARCHITECTURE.md, decision
//! record "The request's log context"). The lines look as they did with the span:
//! `request{id="…" method=GET path=/me}: ` in text, `"span"`/`"spans"` objects named `request`
//! in JSON.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// What every log line of one request says about it.
#[derive(Clone)]
pub(crate) struct RequestContext {
    /// The `X-Request-Id` the response carries: the client's, if it sent an acceptable one.
    pub(crate) id: http::HeaderValue,
    pub(crate) method: http::Method,
    /// Only its path is written.
    pub(crate) uri: http::Uri,
}

/// The path, never the query string (it may hold a token).
impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("id", &self.id())
            .field("method", &self.method)
            .field("path", &self.uri.path())
            .finish()
    }
}

impl RequestContext {
    fn id(&self) -> &str {
        // `server::requests` only keeps ids of visible ASCII.
        self.id.to_str().unwrap_or("")
    }
}

scoped_tls::scoped_thread_local! {
    /// The request whose future this thread is polling, if any.
    pub(crate) static REQUEST: RequestContext
}

/// `f` on the request this thread is answering, if it is answering one.
fn with_request<R>(f: impl FnOnce(&RequestContext) -> R) -> Option<R> {
    REQUEST.is_set().then(|| REQUEST.with(f))
}

/// Installs the global subscriber once; a second call (tests) keeps the first.
pub(crate) fn init(format: LogFormat, default_filter: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let ansi = std::io::stderr().is_terminal();
    let _ = dispatch(format, filter, std::io::stderr, ansi).try_init();
}

/// The subscriber: events that pass `filter`, as lines in `format`, to `writer`.
fn dispatch<W>(
    format: LogFormat,
    filter: tracing_subscriber::EnvFilter,
    writer: W,
    ansi: bool,
) -> tracing::Dispatch
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry.with(layer.event_format(TextLine)).into(),
        LogFormat::Json => registry
            .with(layer.fmt_fields(JsonFields::new()).event_format(JsonLine))
            .into(),
    }
}

/// `2026-11-24T09:35:57.123456Z  INFO request{id="…" method=POST path=/login}: audit: event="login" …`
struct TextLine;

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        SystemTime.format_time(&mut w)?;
        let level = meta.level();
        if w.has_ansi_escapes() {
            let colour = match *level {
                tracing::Level::ERROR => 31,
                tracing::Level::WARN => 33,
                tracing::Level::INFO => 32,
                tracing::Level::DEBUG => 34,
                tracing::Level::TRACE => 35,
            };
            write!(w, " \x1b[{colour}m{level:>5}\x1b[0m ")?;
        } else {
            write!(w, " {level:>5} ")?;
        }
        let mut prefixed = with_request(|r| {
            write!(
                w,
                "request{{id={:?} method={} path={}}}:",
                r.id(),
                r.method,
                r.uri.path()
            )
        })
        .is_some();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                w.write_str(span.metadata().name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(w, "{{{fields}}}")?;
                }
                w.write_char(':')?;
                prefixed = true;
            }
        }
        if prefixed {
            w.write_char(' ')?;
        }
        write!(w, "{}: ", meta.target())?;
        ctx.format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// One JSON object per line: `timestamp`, `level`, `fields`, `target`, and for a request
/// `span` (the innermost) and `spans` (outermost first), as tracing-subscriber's JSON writes.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = JsonVisitor(Map::new());
        event.record(&mut fields);

        let mut spans = Vec::new();
        with_request(|r| {
            let mut span = Map::new();
            span.insert("id".into(), r.id().into());
            span.insert("method".into(), r.method.as_str().into());
            span.insert("path".into(), r.uri.path().into());
            span.insert("name".into(), "request".into());
            spans.push(Value::Object(span));
        });
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                // With `JsonFields`, a span's formatted fields are a JSON object.
                let mut object = span
                    .extensions()
                    .get::<FormattedFields<N>>()
                    .and_then(|f| serde_json::from_str::<Map<String, Value>>(f).ok())
                    .unwrap_or_default();
                object.insert("name".into(), span.metadata().name().into());
                spans.push(Value::Object(object));
            }
        }

        write!(
            w,
            "{{\"timestamp\":{},\"level\":{},\"fields\":{},\"target\":{}",
            json(&timestamp),
            json(meta.level().as_str()),
            json(&fields.0),
            json(meta.target()),
        )?;
        if let Some(innermost) = spans.last() {
            write!(
                w,
                ",\"span\":{},\"spans\":{}",
                json(innermost),
                json(&spans)
            )?;
        }
        w.write_str("}\n")
    }
}

/// `v` as JSON text. The values written here (strings, maps and vectors of JSON values) always
/// serialise.
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// An event's fields as JSON values: numbers and booleans as such, everything else as text.
struct JsonVisitor(Map<String, Value>);

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// Log lines written to memory, for tests.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Captured {
    /// A subscriber writing `format` lines at INFO and above here.
    pub(crate) fn dispatch(&self, format: LogFormat) -> tracing::Dispatch {
        let out = self.clone();
        let filter = tracing_subscriber::EnvFilter::new("info");
        dispatch(format, filter, move || out.clone(), false)
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> RequestContext {
        RequestContext {
            id: http::HeaderValue::from_static("req-\"7\""),
            method: http::Method::POST,
            uri: "/login?access_token=secret".parse().unwrap(),
        }
    }

    /// Logs a line inside a request, one outside, and one inside a span within the request.
    fn three_lines(format: LogFormat) -> Vec<String> {
        let out = Captured::default();
        tracing::dispatcher::with_default(&out.dispatch(format), || {
            REQUEST.set(&context(), || {
                tracing::info!(target: "audit", event = "login", result = "success", user = "alice", attempts = 3u64, "logged in");
                tracing::debug!("not at the default level");
                let span = tracing::info_span!("hashing", cost = 2u64);
                span.in_scope(|| tracing::warn!(error = %"boom", "inner"));
            });
            tracing::error!(ok = false, "outside any request");
        });
        out.lines()
    }

    #[test]
    fn text_lines_carry_the_request_and_never_its_query_string() {
        let lines = three_lines(LogFormat::Text);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let after_time = |line: &str| line.split_once(' ').unwrap().1.to_owned();
        // RFC 3339 UTC timestamps first.
        for line in &lines {
            let (time, _) = line.split_once(' ').unwrap();
            assert!(time.ends_with('Z') && time.contains('T'), "{line}");
        }
        assert_eq!(
            after_time(&lines[0]),
            r#" INFO request{id="req-\"7\"" method=POST path=/login}: audit: logged in event="login" result="success" user="alice" attempts=3"#
        );
        assert_eq!(
            after_time(&lines[1]),
            r#" WARN request{id="req-\"7\"" method=POST path=/login}:hashing{cost=2}: jwtx_server::logging::tests: inner error=boom"#
        );
        assert_eq!(
            after_time(&lines[2]),
            "ERROR jwtx_server::logging::tests: outside any request ok=false"
        );
        assert!(lines.iter().all(|l| !l.contains("secret")));
        assert!(!format!("{:?}", context()).contains("secret"));
    }

    #[test]
    fn json_lines_carry_the_request_as_a_span_named_request() {
        let lines = three_lines(LogFormat::Json);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let parsed: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let request = serde_json::json!({"id": "req-\"7\"", "method": "POST", "path": "/login", "name": "request"});
        let first = &parsed[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], "audit");
        assert_eq!(
            first["fields"],
            serde_json::json!({"message": "logged in", "event": "login", "result": "success", "user": "alice", "attempts": 3})
        );
        assert_eq!(first["span"], request);
        assert_eq!(first["spans"], serde_json::json!([request]));
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));

        let second = &parsed[1];
        assert_eq!(
            second["fields"],
            serde_json::json!({"message": "inner", "error": "boom"})
        );
        let hashing = serde_json::json!({"cost": 2, "name": "hashing"});
        assert_eq!(second["span"], hashing);
        assert_eq!(second["spans"], serde_json::json!([request, hashing]));

        let third = parsed[2].as_object().unwrap();
        assert_eq!(third["level"], "ERROR");
        assert_eq!(
            third["fields"],
            serde_json::json!({"message": "outside any request", "ok": false})
        );
        assert!(!third.contains_key("span") && !third.contains_key("spans"));
        assert!(lines.iter().all(|l| !l.contains("secret")));
    }
}
