//! Connections of the HTTP API: the accept loop (a bounded number of open connections; more
//! are closed at once), optional TLS (rustls, handshake within the header timeout), one hyper
//! HTTP/1 connection per socket with a watchdog that cuts slow request heads and idle
//! keep-alive connections, and graceful shutdown (no new connections, idle ones closed,
//! in-flight requests answered).
//!
//! hyper has a header-read timeout, but it also runs while a kept-alive connection waits for
//! its next request, so it cannot be shorter than the idle timeout; the watchdog here keeps
//! the two apart by watching the bytes that flow and the requests being handled.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::{HttpConfig, HttpTlsConfig};

/// How long connections may take, and how many there may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// TLS handshake, and a whole request head from its first byte (or from accept).
    pub header_read: Duration,
    /// Between the end of a response and the first byte of the next request.
    pub idle: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(http: &HttpConfig) -> Self {
        Limits {
            header_read: Duration::from_secs(http.header_read_timeout_secs),
            idle: Duration::from_secs(http.idle_timeout_secs),
            max_connections: http.max_connections.max(1),
        }
    }
}

/// Connection and write-queue metrics of the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct HttpMetrics {
    pub connections_open: Gauge,
    pub connections_refused: Counter,
    pub connections_timed_out: Counter,
    pub writes_waiting: Gauge,
    pub writes_in_progress: Gauge,
}

impl HttpMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fieldline_http");
        r.register("connections_open", "HTTP connections open now", self.connections_open.clone());
        r.register(
            "connections_refused",
            "Connections closed at accept because max_connections were open",
            self.connections_refused.clone(),
        );
        r.register(
            "connections_timed_out",
            "Connections cut off by the TLS handshake, header-read or idle timeout",
            self.connections_timed_out.clone(),
        );
        r.register("writes_waiting", "Writes waiting for a write slot", self.writes_waiting.clone());
        r.register(
            "writes_in_progress",
            "Writes holding a write slot (reading their body, validating, waiting for the WAL)",
            self.writes_in_progress.clone(),
        );
    }
}

/// `[http.tls]` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[http.tls] cert {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    #[error("[http.tls] key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("[http.tls] cert {} with key {}: {reason}", cert.display(), key.display())]
    Pair { cert: PathBuf, key: PathBuf, reason: String },
}

/// Reads the certificate chain and key and makes the TLS acceptor (HTTP/1.1 only, ring).
pub fn load_tls(tls: &HttpTlsConfig) -> Result<TlsAcceptor, TlsError> {
    let cert_error = |reason: String| TlsError::Cert { path: tls.cert.clone(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| cert_error(pem_reason(e, &tls.cert)))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_error(pem_reason(e, &tls.cert)))?;
    if certs.is_empty() {
        return Err(cert_error("no PEM certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| TlsError::Key { path: tls.key.clone(), reason: pem_reason(e, &tls.key) })?;
    let pair_error = |reason: String| TlsError::Pair { cert: tls.cert.clone(), key: tls.key.clone(), reason };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| pair_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| pair_error(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn pem_reason(e: rustls_pki_types::pem::Error, path: &Path) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => format!("cannot read {}: {io}", path.display()),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind in the file".into(),
        other => format!("not valid PEM: {other}"),
    }
}

/// Accepts connections on `listener` and serves `router` on each until `shutdown` resolves;
/// then stops accepting, closes idle connections and waits for the busy ones to answer.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    metrics: HttpMetrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // One slot per open connection; at shutdown, holding every slot means every connection ended.
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Shed rather than queue: the client sees the close at once and can retry, and a
            // flood of held-open sockets cannot starve the clients already being served.
            metrics.connections_refused.inc();
            tracing::debug!("max_connections open: connection closed at accept");
            continue;
        };
        let (router, tls, metrics, stop) = (router.clone(), tls.clone(), metrics.clone(), stop_rx.clone());
        tokio::spawn(async move {
            metrics.connections_open.inc();
            connection(stream, router, tls, limits, &metrics, stop).await;
            metrics.connections_open.dec();
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    // The semaphore is never closed, so this only waits.
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// One accepted socket: TLS handshake if configured, then HTTP/1 until either side is done.
async fn connection(
    stream: TcpStream,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    metrics: &HttpMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return http(stream, router, limits, metrics, stop).await;
    };
    let handshake = tokio::time::timeout(limits.header_read, acceptor.accept(stream));
    let done = tokio::select! {
        done = handshake => done,
        _ = stop.wait_for(|s| *s) => return,
    };
    match done {
        Ok(Ok(stream)) => http(stream, router, limits, metrics, stop).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => {
            metrics.connections_timed_out.inc();
            tracing::debug!("TLS handshake timed out");
        }
    }
}

async fn http<IO>(io: IO, router: Router, limits: Limits, metrics: &HttpMetrics, mut stop: watch::Receiver<bool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = activity.request_started();
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(Body::new)).await;
                drop(busy);
                response
            }
        })
    };
    // hyper's own header timer is off: the watchdog below does it without cutting idle keep-alives.
    let conn = http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(Watched { inner: io, activity: activity.clone() }), service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                // Finishes the request in progress, then closes; an idle connection closes now.
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
            why = activity.expired(limits) => {
                metrics.connections_timed_out.inc();
                tracing::debug!("HTTP connection closed: {why}");
                return;
            }
        }
    }
}

/// What a connection is doing, as seen from the bytes it moves and the requests it handles.
struct Activity {
    phase: Mutex<Phase>,
}

struct Phase {
    /// Requests whose head has been read and whose response is not yet produced.
    in_flight: usize,
    /// The first byte of the next request head arrived here (none yet: idle).
    head_started: Option<Instant>,
    /// Last response produced or last response byte written.
    quiet_since: Instant,
    /// Nothing answered yet: a new connection must send its first head within the header timeout.
    fresh: bool,
}

/// Decrements the in-flight count when the response is produced (or the request dropped).
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut phase = self.0.lock();
        phase.in_flight = phase.in_flight.saturating_sub(1);
        phase.quiet_since = Instant::now();
    }
}

impl Activity {
    fn new() -> Self {
        Activity {
            phase: Mutex::new(Phase { in_flight: 0, head_started: None, quiet_since: Instant::now(), fresh: true }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        // Plain counters and instants: still meaningful after a panic elsewhere.
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request_started(self: &Arc<Self>) -> Busy {
        let mut phase = self.lock();
        phase.in_flight += 1;
        phase.head_started = None;
        phase.fresh = false;
        Busy(self.clone())
    }

    fn bytes_read(&self) {
        let mut phase = self.lock();
        if phase.in_flight == 0 && phase.head_started.is_none() {
            phase.head_started = Some(Instant::now());
        }
    }

    fn bytes_written(&self) {
        let mut phase = self.lock();
        if phase.in_flight == 0 {
            phase.quiet_since = Instant::now();
        }
    }

    /// When the connection must be closed if nothing changes, and why; `None` while busy.
    fn deadline(&self, limits: Limits) -> Option<(Instant, &'static str)> {
        let phase = self.lock();
        if phase.in_flight > 0 {
            None
        } else if let Some(started) = phase.head_started {
            Some((started + limits.header_read, "request head not complete within the header-read timeout"))
        } else if phase.fresh {
            Some((phase.quiet_since + limits.header_read, "no request within the header-read timeout"))
        } else {
            Some((phase.quiet_since + limits.idle, "idle keep-alive timeout"))
        }
    }

    /// Resolves once the connection has overrun its deadline.
    async fn expired(&self, limits: Limits) -> &'static str {
        loop {
            match self.deadline(limits) {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => tokio::time::sleep_until(at).await,
                // A handler is working (its body reads have their own deadline): look again later.
                None => tokio::time::sleep(limits.header_read.min(limits.idle)).await,
            }
        }
    }
}

/// The socket, reporting to [`Activity`] whenever bytes move.
struct Watched<IO> {
    inner: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_written();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_written();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits =
        Limits { header_read: Duration::from_secs(10), idle: Duration::from_secs(60), max_connections: 1 };

    fn reason(activity: &Activity) -> Option<&'static str> {
        activity.deadline(LIMITS).map(|(_, why)| why)
    }

    #[tokio::test]
    async fn the_watchdog_separates_header_reads_from_idle_keep_alive() {
        let activity = Arc::new(Activity::new());
        // A new connection must send (and finish) a head within the header timeout.
        let (first, why) = activity.deadline(LIMITS).unwrap();
        assert!(first <= Instant::now() + LIMITS.header_read && why.starts_with("no request"), "{why}");
        activity.bytes_read();
        assert_eq!(reason(&activity), Some("request head not complete within the header-read timeout"));
        // While a request is handled there is no deadline, and body bytes start no head.
        let busy = activity.request_started();
        activity.bytes_read();
        assert_eq!(reason(&activity), None);
        drop(busy);
        // Answered: idle (the longer timeout) until the next request's first byte.
        let (idle_until, why) = activity.deadline(LIMITS).unwrap();
        assert_eq!(why, "idle keep-alive timeout");
        assert!(idle_until > Instant::now() + LIMITS.header_read);
        activity.bytes_written(); // a slow reader of the response is not idle
        assert!(activity.deadline(LIMITS).unwrap().0 >= idle_until);
        activity.bytes_read();
        assert_eq!(reason(&activity), Some("request head not complete within the header-read timeout"));
        let short = Limits { header_read: Duration::from_millis(20), ..LIMITS };
        let why = tokio::time::timeout(Duration::from_secs(5), activity.expired(short)).await.unwrap();
        assert!(why.contains("head"), "{why}");
    }
}
