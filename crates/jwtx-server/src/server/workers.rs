//! Connection threads. `jwtx serve` answers on `workers` threads (one per core by default),
//! each running its own current-thread tokio runtime. One task accepts connections and hands
//! them to the threads in turn; a connection then stays on its thread for its life.
//!
//! No stealing between threads (ARCHITECTURE.md, decision record "Per-thread runtimes"), so
//! work that blocks a thread must not run on it. None does: Argon2 runs on the hashing threads
//! of jwtx-auth's `passwords.rs`, SQLite on sqlx's, and everything else a request does is memory
//! work.
//!
//! Everything shared (the state, the store's pool, the revocation set) is `Send + Sync` and
//! the same for every thread. The acceptor and the background tasks (revocation follower,
//! throttle purge) run on the runtime that called [`serve`].

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use super::connections::{self, App, Registered, Registry};

/// Connections waiting for one thread before the acceptor tries the next.
const QUEUE: usize = 256;

/// Serves `router` on `listener` with `workers` threads (the calling task's runtime is one of
/// them) until `stop` turns true (or its sender is dropped); in-flight requests finish first.
/// With `tls`, each connection's thread runs its TLS handshake. `registry` bounds the open
/// connections and their silences, and knows whose PROXY and `X-Forwarded-For` headers name
/// the client (`server/connections.rs`, `server/proxies.rs`).
pub(crate) async fn serve<A: App>(
    listener: TcpListener,
    router: A,
    tls: Option<Arc<rustls::ServerConfig>>,
    workers: NonZeroUsize,
    registry: Arc<Registry>,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let handshakes = tls.map(TlsAcceptor::from);
    let mut queues = Vec::with_capacity(workers.get());
    let mut finished = Vec::with_capacity(workers.get() - 1);
    let (own_queue, own_connections) = mpsc::channel(QUEUE);
    queues.push(own_queue);
    for i in 1..workers.get() {
        let (queue, connections) = mpsc::channel(QUEUE);
        let (done, result) = oneshot::channel();
        let (router, handshakes, stop) = (router.clone(), handshakes.clone(), stop.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("jwtx-worker-{i}"))
            .spawn(move || {
                runtime.block_on(serve_connections(connections, router, handshakes, stop));
                let _ = done.send(());
            })?;
        queues.push(queue);
        finished.push(result);
    }
    let tls = handshakes.is_some();
    let acceptor = tokio::spawn(accept(listener, queues, registry, tls, stop.clone()));
    serve_connections(own_connections, router, handshakes, stop).await;
    // The acceptor returns on `stop` too; if it has not, it is stopped here. Either way the
    // listening socket is closed before `serve` returns.
    acceptor.abort();
    let _ = acceptor.await;
    let mut result = Ok(());
    for done in finished {
        if done.await.is_err() {
            result = Err(io::Error::other("a worker thread stopped unexpectedly"));
        }
    }
    result
}

/// A connection on its way to a thread: its socket, out of the acceptor's reactor, its peer
/// and its place among the open connections.
type Handover = (std::net::TcpStream, SocketAddr, Registered);

/// Accepts connections, registers each (at the cap, the oldest silent connection makes room,
/// or the acceptor waits while every connection is busy) and hands it to the next thread
/// whose queue has room.
async fn accept(
    listener: TcpListener,
    queues: Vec<mpsc::Sender<Handover>>,
    registry: Arc<Registry>,
    tls: bool,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_failed(&e, &registry).await;
                continue;
            }
        };
        let registered = loop {
            if let Some(registered) = registry.admit(tls) {
                break registered;
            }
            tokio::select! {
                () = registry.room() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        };
        let mut handover = match stream.into_std() {
            Ok(socket) => Some((socket, peer, registered)),
            Err(e) => {
                tracing::debug!(error = %e, "connection lost while accepted");
                continue;
            }
        };
        for _ in 0..queues.len() {
            let Some(h) = handover.take() else { break };
            let queue = &queues[next];
            next = (next + 1) % queues.len();
            if let Err(mpsc::error::TrySendError::Full(h) | mpsc::error::TrySendError::Closed(h)) =
                queue.try_send(h)
            {
                handover = Some(h);
            }
        }
        // Every queue is full: wait for the next thread's (back-pressure, not an unbounded
        // backlog in memory).
        if let Some(h) = handover {
            let queue = &queues[next];
            next = (next + 1) % queues.len();
            if queue.send(h).await.is_err() {
                tracing::warn!("a worker thread has stopped; connection dropped");
            }
        }
    }
}

/// After a failed `accept`: nothing to do when the client gave up; out of file descriptors,
/// the oldest silent connection makes room (else a pause); any other error, a pause.
async fn accept_failed(e: &io::Error, registry: &Registry) {
    use rustix::io::Errno;
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    let out_of_files = matches!(Errno::from_io_error(e), Some(Errno::MFILE | Errno::NFILE));
    if out_of_files && registry.shed_one() {
        tracing::debug!("out of file descriptors: the oldest silent connection was shed");
        registry.room().await;
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Serves one thread's connections, each in its own task, until `stop` (or the acceptor
/// ends); returns when every one of them has ended.
async fn serve_connections<A: App>(
    mut connections: mpsc::Receiver<Handover>,
    router: A,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    // Every connection's task holds a receiver: when none is left, all have ended.
    let (all_ended, open) = watch::channel(());
    loop {
        let (socket, peer, registered) = tokio::select! {
            handover = connections.recv() => match handover {
                Some(handover) => handover,
                None => break,
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        // Registered with this thread's reactor.
        let stream = match TcpStream::from_std(socket) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot register a connection");
                continue;
            }
        };
        let (router, tls, stop, open) = (router.clone(), tls.clone(), stop.clone(), open.clone());
        tokio::spawn(async move {
            connections::serve(stream, peer, registered, router, tls, stop).await;
            drop(open);
        });
    }
    // Connections still queued are closed; the open ones finish their requests.
    drop(connections);
    drop(open);
    all_ended.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::connections::ConnectionLimits;
    use crate::server::metrics::Metrics;
    use crate::server::proxies::Proxies;
    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends `GET /thread` on `conn` and returns the body: the name of the thread that answered.
    async fn ask(conn: &mut TcpStream) -> String {
        conn.write_all(b"GET /thread HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 512];
            let n = conn.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if body.len() == length {
                    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    return body.to_owned();
                }
            }
        }
    }

    /// Connections go to the threads in turn and stay on their thread; on `stop`, `serve`
    /// returns once every thread has finished.
    #[tokio::test]
    async fn connections_go_to_the_threads_in_turn_and_stay_there() {
        let router = Router::new().route(
            "/thread",
            get(|| async { std::thread::current().name().unwrap_or("?").to_owned() }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop) = watch::channel(false);
        let workers = NonZeroUsize::new(3).unwrap();
        let server = tokio::spawn(serve(
            listener,
            router,
            None,
            workers,
            Arc::new(Registry::new(
                ConnectionLimits::default(),
                Proxies::default(),
                Arc::new(Metrics::default()),
            )),
            stop,
        ));

        let this = std::thread::current().name().unwrap().to_owned();
        let mut conns = Vec::new();
        let mut names = Vec::new();
        // One at a time, each answered before the next connects: the acceptor's order.
        for _ in 0..5 {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            names.push(ask(&mut conn).await);
            conns.push(conn);
        }
        assert_eq!(
            names,
            [
                &this,
                "jwtx-worker-1",
                "jwtx-worker-2",
                &this,
                "jwtx-worker-1"
            ]
        );
        // Kept-alive connections stay where they were accepted.
        for (conn, name) in conns.iter_mut().zip(&names).rev() {
            assert_eq!(&ask(conn).await, name);
        }

        stop_tx.send(true).unwrap();
        drop(conns);
        let served = tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .expect("serve did not return after stop");
        served.unwrap().unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    }
}
