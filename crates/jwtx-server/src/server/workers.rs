//! Connection threads. `jwtx serve` answers on `workers` threads (one per core by default),
//! each running its own current-thread tokio runtime. One task accepts connections and hands
//! them to the threads in turn; a connection then stays on its thread for its life.
//!
//! Why not one multi-thread runtime: tokio's work-stealing scheduler wakes a parked worker
//! whenever new work arrives, so that it may steal, and tasks move between threads. Each of
//! those wake-ups is a futex call and a context switch, and on a request that costs 10 µs of
//! CPU they show. Measured with alternating wrk rounds against the same build on one
//! multi-thread runtime, `/protected` used 9.2 µs of server CPU a request on it and 8.2 µs
//! this way, and was served 12% faster (bench/BENCHMARKS.md). This is the model of actix-web
//! and nginx: no stealing between threads, so work that blocks a thread must not run on it.
//! None does: Argon2 runs on `passwords.rs`'s own threads, SQLite on sqlx's, and everything
//! else a request does is memory work.
//!
//! Everything shared (the state, the store's pool, the revocation set) is `Send + Sync` and
//! the same for every thread. The acceptor and the background tasks (revocation follower,
//! throttle purge) run on the runtime that called [`serve`].

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use axum::Router;
use axum::serve::{Listener, ListenerExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use super::tls::TlsListener;

/// Connections waiting for one thread before the acceptor tries the next.
const QUEUE: usize = 256;

/// Serves `router` on `listener` with `workers` threads (the calling task's runtime is one of
/// them) until `stop` turns true (or its sender is dropped); in-flight requests finish first.
/// With `tls`, each thread runs the TLS handshakes of its connections.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    workers: NonZeroUsize,
    stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let mut queues = Vec::with_capacity(workers.get());
    let mut finished = Vec::with_capacity(workers.get() - 1);
    let (own_queue, own_connections) = mpsc::channel(QUEUE);
    queues.push(own_queue);
    for i in 1..workers.get() {
        let (queue, connections) = mpsc::channel(QUEUE);
        let (done, result) = oneshot::channel();
        let (router, tls, stop) = (router.clone(), tls.clone(), stop.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("jwtx-worker-{i}"))
            .spawn(move || {
                let listener = Connections { connections, local };
                let served = runtime.block_on(serve_connections(listener, router, tls, stop));
                let _ = done.send(served);
            })?;
        queues.push(queue);
        finished.push(result);
    }
    let acceptor = tokio::spawn(accept(listener, queues, stop.clone()));
    let own = Connections {
        connections: own_connections,
        local,
    };
    let mut result = serve_connections(own, router, tls, stop).await;
    // The acceptor returns on `stop` too; after an error, it is stopped here. Either way the
    // listening socket is closed before `serve` returns.
    acceptor.abort();
    let _ = acceptor.await;
    for done in finished {
        let served = done
            .await
            .unwrap_or_else(|_| Err(io::Error::other("a worker thread stopped unexpectedly")));
        result = result.and(served);
    }
    result
}

/// A connection on its way to a thread: its socket, out of the acceptor's reactor, and peer.
type Handover = (std::net::TcpStream, SocketAddr);

/// Accepts connections and hands each to the next thread whose queue has room.
async fn accept(
    mut listener: TcpListener,
    queues: Vec<mpsc::Sender<Handover>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut next = 0;
    loop {
        // `Listener::accept` retries failed accepts itself (after a pause when out of file
        // descriptors).
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let mut handover = match stream.into_std() {
            Ok(socket) => Some((socket, peer)),
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

/// One thread's share of the connections, as an axum listener.
struct Connections {
    connections: mpsc::Receiver<Handover>,
    local: SocketAddr,
}

impl Listener for Connections {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((socket, peer)) = self.connections.recv().await else {
                // The acceptor has stopped: so has serving (see `serve`).
                return std::future::pending().await;
            };
            // Registered with this thread's reactor.
            match TcpStream::from_std(socket) {
                Ok(stream) => return (stream, peer),
                Err(e) => tracing::warn!(error = %e, "cannot register a connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serves one thread's connections until `stop`.
async fn serve_connections(
    listener: Connections,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let stopped = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    // `tap_io` gives any listener axum's `ConnectInfo<SocketAddr>` (the client address).
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => {
            axum::serve(listener.tap_io(|_| {}), service)
                .with_graceful_shutdown(stopped)
                .await
        }
        Some(tls) => {
            axum::serve(TlsListener::new(listener, tls)?.tap_io(|_| {}), service)
                .with_graceful_shutdown(stopped)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let server = tokio::spawn(serve(listener, router, None, workers, stop));

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
