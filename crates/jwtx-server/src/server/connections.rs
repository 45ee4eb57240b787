//! The connections of `jwtx serve`: how many may be open, how long one may stay silent, and
//! which one closes when a new client arrives at the cap.
//!
//! Every accepted connection is registered here with its accept time and its phase:
//!
//! | phase | from | until | bound |
//! |---|---|---|---|
//! | `handshake` | accept (TLS only) | the handshake completes | `header_read_timeout` from accept |
//! | `head` | accept, or the first byte after an idle spell | the request head is complete | `header_read_timeout` (after accept: the PROXY header, the handshake and the first head share it) |
//! | `busy` | the request head is complete | the response body has been handed to hyper | the request layer's 30 s deadline (`requests.rs`) |
//! | `idle` | the response | the next request's first byte | `keep_alive_timeout` |
//!
//! A connection past its bound is closed (`jwtx_connections_timed_out_total{phase}`).
//!
//! **The client address** (`proxies.rs`). With `proxy_protocol`, the PROXY header is read
//! first, in the connection's first phase; then each request's `ConnectInfo` is the
//! connection's client, or the `X-Forwarded-For` client when the connection's address is a
//! trusted proxy (only then is the header parsed).
//!
//! **The cap.** At most `max_connections` are open. When a new connection arrives at the cap,
//! the oldest connection still in its handshake or waiting for a head is closed to make room,
//! else the oldest idle one (`jwtx_connections_shed_total{phase}`). A busy connection is never
//! shed: if it turns busy just as it is chosen, it closes after its response instead. Only when
//! every open connection is busy does the acceptor wait (new clients stay in the kernel's
//! backlog) until one finishes. Oldest first: a real client sends its handshake or request within
//! a round trip of connecting, so it is busy (never shed) long before an attacker can open
//! `max_connections` newer silent connections; the silent ones are the old ones. The same holds
//! for TLS: handshakes run in each connection's own task, with no pool of permits that silent
//! connections could hold.
//!
//! **Cost.** The registry's lock is taken when a connection opens, closes or is shed, never
//! per request. Per request, the connection's phase is an atomic its own thread writes, and the
//! clock is read when a request ends; one timer per connection fires at most every
//! `min(header_read_timeout, keep_alive_timeout)` to look at the phase.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::metrics::Metrics;
use super::proxies::{self, Proxies, ProxyNet, Replayed};
use crate::config::Config;

/// How many connections may be open and how long one may stay silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most (`max_connections`).
    pub max_connections: usize,
    /// From accept to a complete TLS handshake and first request head, and from a later
    /// request's first byte to its complete head (`header_read_timeout`).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request (`keep_alive_timeout`).
    pub keep_alive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: crate::config::DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: crate::config::DEFAULT_HEADER_READ_TIMEOUT,
            keep_alive_timeout: crate::config::DEFAULT_KEEP_ALIVE_TIMEOUT,
        }
    }
}

impl ConnectionLimits {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> Self {
        ConnectionLimits {
            max_connections: config.max_connections,
            header_read_timeout: config.header_read_timeout,
            keep_alive_timeout: config.keep_alive_timeout,
        }
    }

    /// File descriptors kept for everything but client connections (listener, runtimes,
    /// SQLite's files, standard streams, a connection being shed): 64, and 4 per thread.
    fn reserved_files(workers: usize) -> u64 {
        64 + 4 * workers as u64
    }

    /// Fits `max_connections` under the process's open-file limit, raising the soft limit
    /// towards the hard one first: a connection cap above it would never be reached, and
    /// `accept` would fail instead (every client refused, not only the silent ones). Returns
    /// the limits and, when the cap was lowered, why.
    pub fn fit_open_file_limit(mut self, workers: usize) -> (Self, Option<String>) {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let reserved = Self::reserved_files(workers);
        let wanted = self.max_connections as u64 + reserved;
        let limit = getrlimit(Resource::Nofile);
        let Some(soft) = limit.current else {
            return (self, None);
        };
        let mut soft = soft;
        if soft < wanted {
            let raised = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
            if raised > soft
                && setrlimit(
                    Resource::Nofile,
                    Rlimit {
                        current: Some(raised),
                        maximum: limit.maximum,
                    },
                )
                .is_ok()
            {
                soft = raised;
            }
        }
        if soft >= wanted {
            return (self, None);
        }
        let fits = usize::try_from(soft.saturating_sub(reserved).max(1)).unwrap_or(usize::MAX);
        let note = format!(
            "max_connections {} lowered to {fits} to fit the open-file limit ({soft}, {reserved} \
             kept for the server); raise it with `ulimit -n` or LimitNOFILE=",
            self.max_connections
        );
        self.max_connections = fits;
        (self, Some(note))
    }
}

/// What a connection is doing (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Phase {
    Handshake = 0,
    Head = 1,
    Idle = 2,
    Busy = 3,
}

impl Phase {
    /// The label values of the phases a connection can be shed or time out in, indexed by
    /// `Phase as usize`.
    pub(crate) const LABELS: [&'static str; 3] = ["handshake", "head", "idle"];

    fn from_u8(n: u8) -> Phase {
        match n {
            0 => Phase::Handshake,
            1 => Phase::Head,
            2 => Phase::Idle,
            _ => Phase::Busy,
        }
    }
}

/// One connection's entry: written by its own thread, read by the acceptor when it sheds.
#[derive(Debug)]
struct Slot {
    phase: AtomicU8,
    /// When the phase began, in milliseconds after `epoch`.
    since: AtomicU64,
    epoch: Instant,
    /// Woken when the acceptor sheds this connection.
    shed: Notify,
}

impl Slot {
    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Relaxed))
    }

    /// Enters `phase` now.
    fn enter(&self, phase: Phase) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.since.store(ms, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// When the current phase runs out (`None` while busy).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let bound = match self.phase() {
            Phase::Handshake | Phase::Head => limits.header_read_timeout,
            Phase::Idle => limits.keep_alive_timeout,
            Phase::Busy => return None,
        };
        let since = Duration::from_millis(self.since.load(Ordering::Relaxed));
        Some(self.epoch + since + bound)
    }
}

/// Open connections, oldest first.
#[derive(Debug, Default)]
struct Slots {
    next: u64,
    live: BTreeMap<u64, Arc<Slot>>,
}

/// Every open connection of the server (shared by its threads).
#[derive(Debug)]
pub(crate) struct Registry {
    limits: ConnectionLimits,
    /// Trusted proxies and the PROXY protocol.
    proxies: Proxies,
    epoch: Instant,
    slots: Mutex<Slots>,
    /// Notified when a connection closes.
    released: Notify,
    metrics: Arc<Metrics>,
}

impl Registry {
    pub(crate) fn new(
        mut limits: ConnectionLimits,
        proxies: Proxies,
        metrics: Arc<Metrics>,
    ) -> Self {
        // A cap of 0 would never admit anyone (the configuration refuses it).
        limits.max_connections = limits.max_connections.max(1);
        metrics
            .connections
            .max
            .store(limits.max_connections as u64, Ordering::Relaxed);
        Registry {
            limits,
            proxies,
            epoch: Instant::now(),
            slots: Mutex::default(),
            released: Notify::new(),
            metrics,
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection accepted now (`tls`: its handshake comes first), shedding the
    /// oldest silent one at the cap; `None` when every open connection is busy.
    pub(crate) fn admit(self: &Arc<Self>, tls: bool) -> Option<Registered> {
        let mut slots = self.slots();
        if slots.live.len() >= self.limits.max_connections && !self.shed_oldest(&mut slots) {
            return None;
        }
        let slot = Arc::new(Slot {
            phase: AtomicU8::new(0),
            since: AtomicU64::new(0),
            epoch: self.epoch,
            shed: Notify::new(),
        });
        slot.enter(if tls { Phase::Handshake } else { Phase::Head });
        let id = slots.next;
        slots.next += 1;
        slots.live.insert(id, slot.clone());
        drop(slots);
        self.metrics
            .connections
            .open
            .fetch_add(1, Ordering::Relaxed);
        Some(Registered {
            registry: self.clone(),
            id,
            slot,
        })
    }

    /// Sheds the oldest silent connection, if there is one (when the process is out of file
    /// descriptors).
    pub(crate) fn shed_one(&self) -> bool {
        let mut slots = self.slots();
        self.shed_oldest(&mut slots)
    }

    /// Asks the oldest connection in its handshake or waiting for a head to close, else the
    /// oldest idle one; it no longer counts against the cap. False if every one is busy.
    fn shed_oldest(&self, slots: &mut Slots) -> bool {
        let mut idle = None;
        let mut silent = None;
        for (&id, slot) in &slots.live {
            match slot.phase() {
                phase @ (Phase::Handshake | Phase::Head) => {
                    silent = Some((id, phase));
                    break;
                }
                Phase::Idle if idle.is_none() => idle = Some((id, Phase::Idle)),
                _ => {}
            }
        }
        let Some((id, phase)) = silent.or(idle) else {
            return false;
        };
        if let Some(slot) = slots.live.remove(&id) {
            slot.shed.notify_one();
        }
        self.metrics.connections.shed[phase as usize].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Resolves when a connection may have closed (or after 50 ms: a busy connection turning
    /// idle makes room too, and that is not signalled).
    pub(crate) async fn room(&self) {
        tokio::select! {
            () = self.released.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// A connection's registration; dropping it (when the connection closes) frees its place.
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<Registry>,
    id: u64,
    slot: Arc<Slot>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.slots().live.remove(&self.id);
        let metrics = &self.registry.metrics.connections;
        metrics.open.fetch_sub(1, Ordering::Relaxed);
        self.registry.released.notify_one();
    }
}

impl Registered {
    fn timed_out(&self, phase: Phase) {
        if let Some(n) = self
            .registry
            .metrics
            .connections
            .timed_out
            .get(phase as usize)
        {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Serves one connection (with `proxy_protocol`: after its PROXY header; `tls`: after its
/// handshake) until the client closes it, it runs out of time, it is shed, or `stop`
/// (in-flight requests finish first).
pub(crate) async fn serve<A: App>(
    mut stream: TcpStream,
    peer: SocketAddr,
    conn: Registered,
    router: A,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let limits = conn.registry.limits;
    // From accept: the PROXY header, the handshake and the first head share one bound.
    let deadline = conn
        .slot
        .deadline(&limits)
        .unwrap_or_else(|| Instant::now() + limits.header_read_timeout);
    let proxies = &conn.registry.proxies;
    let (peer, first) = if proxies.proxy_protocol() {
        let read = tokio::select! {
            read = proxies::read_proxy_header(&mut stream, peer, proxies) => read,
            () = tokio::time::sleep_until(deadline) => {
                conn.timed_out(conn.slot.phase());
                return tracing::debug!(%peer, "PROXY header timed out");
            }
            () = conn.slot.shed.notified() => return,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        match read {
            Ok(read) => read,
            Err(e) if e.is_warning() => return tracing::warn!(%peer, "{e}"),
            Err(e) => return tracing::debug!(%peer, "{e}"),
        }
    } else {
        (peer, Vec::new())
    };
    let forwarded = proxies.forwarding(peer.ip());
    let stream = Replayed::new(first, stream);
    let client = Client { peer, forwarded };
    let Some(acceptor) = tls else {
        return drive(stream, client, &conn, router, stop).await;
    };
    let stream = tokio::select! {
        handshake = acceptor.accept(stream) => match handshake {
            Ok(stream) => stream,
            Err(e) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        },
        () = tokio::time::sleep_until(deadline) => {
            conn.timed_out(Phase::Handshake);
            return tracing::debug!(%peer, "TLS handshake timed out");
        }
        () = conn.slot.shed.notified() => return,
        _ = stop.wait_for(|stopped| *stopped) => return,
    };
    // The first head's time counts from accept: the handshake and the head share one bound.
    conn.slot.phase.store(Phase::Head as u8, Ordering::Relaxed);
    drive(stream, client, &conn, router, stop).await;
}

/// A connection's client: its address (the TCP peer, or the PROXY header's source) and, when
/// that is a trusted proxy, the trusted proxies to read `X-Forwarded-For` with.
#[derive(Debug)]
struct Client {
    peer: SocketAddr,
    forwarded: Option<Arc<[ProxyNet]>>,
}

/// HTTP/1.1 on `io` with the connection's timers, shedding and graceful stop.
async fn drive<S, A: App>(
    io: S,
    client: Client,
    conn: &Registered,
    router: A,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = &conn.slot;
    let limits = conn.registry.limits;
    let peer = client.peer;
    let io = TokioIo::new(Watched {
        inner: io,
        slot: slot.clone(),
    });
    let handler = Handler {
        router: RefCell::new(router),
        peer: ConnectInfo(peer),
        forwarded: client.forwarded,
        slot: slot.clone(),
    };
    let mut http = pin!(hyper::server::conn::http1::Builder::new().serve_connection(io, handler));
    // The phase changes without waking this task, so the timer looks again at least every
    // `recheck`: a phase's deadline is never sooner than `recheck` after it began, hence never
    // missed.
    let recheck = limits.header_read_timeout.min(limits.keep_alive_timeout);
    let next = |slot: &Slot| {
        let look = Instant::now() + recheck;
        slot.deadline(&limits)
            .map_or(look, |deadline| deadline.min(look))
    };
    let timer = tokio::time::sleep_until(next(slot));
    let mut timer = pin!(timer);
    let mut closing = false;
    loop {
        tokio::select! {
            served = http.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = timer.as_mut() => {
                let phase = slot.phase();
                match slot.deadline(&limits) {
                    Some(deadline) if deadline <= Instant::now() => {
                        conn.timed_out(phase);
                        return tracing::debug!(%peer, phase = Phase::LABELS[phase as usize],
                            "connection timed out");
                    }
                    _ => timer.as_mut().reset(next(slot)),
                }
            }
            () = slot.shed.notified(), if !closing => {
                if slot.phase() != Phase::Busy {
                    return tracing::debug!(%peer, "connection shed at max_connections");
                }
                // Its request just began: answered, then closed.
                http.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = stop.wait_for(|stopped| *stopped), if !closing => {
                if slot.phase() != Phase::Busy {
                    return;
                }
                http.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// The connection's socket (or TLS stream): the first bytes after an idle spell start a head.
#[derive(Debug)]
struct Watched<S> {
    inner: S,
    slot: Arc<Slot>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(())))
            && buf.filled().len() > before
            && this.slot.phase() == Phase::Idle
        {
            this.slot.enter(Phase::Head);
        }
        read
    }
}

// Writes go straight through.
super::forward_async_write!(Watched);

/// What answers a connection's requests: the server's request stack ([`super::App`]), or a
/// bare router in tests. Always ready (axum's routes are), so it is called without
/// `poll_ready`.
pub(crate) trait App:
    tower::Service<
        http::Request<axum::body::Body>,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> App for S where
    S: tower::Service<
            http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// The request stack as one connection's hyper service: the client's address as axum's
/// `ConnectInfo`, and the connection busy from the request head until the response body has
/// gone to hyper. The stack is the connection's own (no shared reference count per request).
#[derive(Debug)]
struct Handler<A> {
    router: RefCell<A>,
    /// The connection's client address.
    peer: ConnectInfo<SocketAddr>,
    /// Set when `peer` is a trusted proxy: each request's client is then read from its
    /// `X-Forwarded-For` (`proxies.rs`).
    forwarded: Option<Arc<[ProxyNet]>>,
    slot: Arc<Slot>,
}

impl<A: App> hyper::service::Service<http::Request<Incoming>> for Handler<A> {
    type Response = http::Response<Tracked<axum::body::Body>>;
    type Error = Infallible;
    type Future = Answer<A::Future>;

    fn call(&self, mut req: http::Request<Incoming>) -> Self::Future {
        self.slot.phase.store(Phase::Busy as u8, Ordering::Relaxed);
        let client = match &self.forwarded {
            None => self.peer,
            Some(trusted) => ConnectInfo(proxies::forwarded_client(
                trusted,
                self.peer.0,
                req.headers(),
            )),
        };
        req.extensions_mut().insert(client);
        let req = req.map(axum::body::Body::new);
        let inner = tower::Service::call(&mut *self.router.borrow_mut(), req);
        Answer {
            inner,
            busy: Some(Busy(self.slot.clone())),
        }
    }
}

/// Marks the connection idle when dropped (with the response body, or with the request if the
/// connection ends first).
#[derive(Debug)]
struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.enter(Phase::Idle);
    }
}

pin_project_lite::pin_project! {
    /// The router's response, its body carrying the connection's [`Busy`] mark.
    #[derive(Debug)]
    struct Answer<F> {
        #[pin]
        inner: F,
        busy: Option<Busy>,
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<axum::response::Response, Infallible>>,
{
    type Output = Result<http::Response<Tracked<axum::body::Body>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match ready!(this.inner.poll(cx)) {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let busy = this.busy.take();
        Poll::Ready(Ok(res.map(|body| Tracked { body, _busy: busy })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its connection busy until hyper drops it.
    #[derive(Debug)]
    struct Tracked<B> {
        #[pin]
        body: B,
        _busy: Option<Busy>,
    }
}

impl<B: Body> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(max: usize) -> Arc<Registry> {
        let limits = ConnectionLimits {
            max_connections: max,
            ..ConnectionLimits::default()
        };
        Arc::new(Registry::new(
            limits,
            Proxies::default(),
            Arc::new(Metrics::default()),
        ))
    }

    /// At the cap, the oldest connection in its handshake or waiting for a head makes room,
    /// then the oldest idle one; a busy one never does, and when every one is busy there is
    /// no room.
    #[tokio::test]
    async fn the_oldest_silent_connection_makes_room_and_a_busy_one_never_does() {
        let r = registry(3);
        let a = r.admit(false).unwrap();
        let b = r.admit(true).unwrap();
        let c = r.admit(false).unwrap();
        a.slot.phase.store(Phase::Busy as u8, Ordering::Relaxed);
        c.slot.enter(Phase::Idle);
        // b (handshake) goes before the older a (busy) and the idle c.
        let d = r.admit(false).unwrap();
        let live: Vec<u64> = r.slots().live.keys().copied().collect();
        assert_eq!(live, [a.id, c.id, d.id]);
        tokio::time::timeout(Duration::from_secs(1), b.slot.shed.notified())
            .await
            .expect("b is told to close");
        d.slot.phase.store(Phase::Busy as u8, Ordering::Relaxed);
        // Then the idle c.
        let e = r.admit(false).unwrap();
        let live: Vec<u64> = r.slots().live.keys().copied().collect();
        assert_eq!(live, [a.id, d.id, e.id]);
        e.slot.phase.store(Phase::Busy as u8, Ordering::Relaxed);
        // a, d, e busy: no room.
        assert!(r.admit(false).is_none());
        let shed = &r.metrics.connections.shed;
        let counts: Vec<u64> = shed.iter().map(|n| n.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [1, 0, 1]);
        // b and c still hold their sockets until their tasks end: 5 open.
        assert_eq!(r.metrics.connections.open.load(Ordering::Relaxed), 5);
        drop((b, c));
        drop(a);
        assert_eq!(r.metrics.connections.open.load(Ordering::Relaxed), 2);
        assert!(r.admit(false).is_some());
    }
}
