//! fieldline's own MQTT endpoint (v3.1.1 and v5, QoS 0 and 1) on ntex-mqtt.
//!
//! It is not a general broker: devices publish readings to it, and clients may subscribe to
//! fieldline's outgoing topics (alerts, forecasts). ntex-mqtt sends a PUBACK only when the
//! publish handler's future completes, and the handler completes only after the store has
//! made the message's points durable, so an acknowledged reading survives kill -9. A failed
//! write closes the connection without PUBACK, so the client redelivers.
//!
//! ntex runs its own single-threaded runtimes; [`start`] runs them on a dedicated thread and
//! returns an [`EndpointHandle`] the tokio side can stop. The same service (credentials in
//! `auth.rs`, ACLs in `config.rs`) serves the plain listener and the TLS one.

pub mod auth;
pub mod config;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use ntex::service::{ServiceFactory, chain_factory, fn_factory_with_config, fn_service};
use ntex::time::Seconds;
use ntex::util::Ready;
use ntex_mqtt::{MqttServer, v3, v5};
use tokio::sync::oneshot;

pub use auth::{Authenticator, Refused, hash_password};
pub use config::{AnonymousConfig, EndpointConfig, EndpointTlsConfig, Identity, UserConfig};

use super::IngestContext;
use super::tls::{self, TlsError};
use crate::topic::matches_filter;

const SOURCE: &str = "mqtt_endpoint";

/// Error of the handshake, publish and control services (logged by ntex; the connection
/// is closed, so unacknowledged messages are redelivered by the client).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EndpointError(String);

impl From<()> for EndpointError {
    fn from(_: ()) -> Self {
        EndpointError("service error".into())
    }
}

impl TryFrom<EndpointError> for v5::PublishAck {
    type Error = EndpointError;
    fn try_from(err: EndpointError) -> Result<Self, Self::Error> {
        Err(err)
    }
}

/// Per-connection state.
struct Session {
    identity: Identity,
    /// Subscriptions to outgoing topics: filter and granted QoS (0 or 1).
    subscriptions: Rc<RefCell<Vec<(String, u8)>>>,
    /// Most filters `subscriptions` may hold.
    max_subscriptions: usize,
    /// Dropping this (when the connection ends) stops the forwarding task.
    forwarder: RefCell<Option<oneshot::Sender<()>>>,
}

impl Session {
    fn new(identity: Identity, max_subscriptions: usize) -> Self {
        Session { identity, subscriptions: Rc::default(), max_subscriptions, forwarder: RefCell::new(None) }
    }
}

/// Where outgoing messages go: the v3 or v5 sink of a connection.
#[derive(Clone)]
enum OutSink {
    V3(v3::MqttSink),
    V5(v5::MqttSink),
}

impl OutSink {
    fn is_open(&self) -> bool {
        match self {
            OutSink::V3(s) => s.is_open(),
            OutSink::V5(s) => s.is_open(),
        }
    }

    async fn send(&self, topic: &str, payload: Bytes, qos: u8) -> bool {
        let topic = ntex::util::ByteString::from(topic);
        let payload = ntex::util::Bytes::copy_from_slice(&payload);
        match (self, qos) {
            (OutSink::V3(s), 0) => s.publish(topic).send_at_most_once(payload).is_ok(),
            (OutSink::V3(s), _) => s.publish(topic).send_at_least_once(payload).await.is_ok(),
            (OutSink::V5(s), 0) => s.publish(topic).send_at_most_once(payload).is_ok(),
            (OutSink::V5(s), _) => s.publish(topic).send_at_least_once(payload).await.is_ok(),
        }
    }
}

/// Starts forwarding outgoing messages to this connection, once.
fn ensure_forwarder(ctx: &IngestContext, session: &Session, sink: OutSink) {
    if session.forwarder.borrow().is_some() {
        return;
    }
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    *session.forwarder.borrow_mut() = Some(stop_tx);
    let mut rx = ctx.outbox.subscribe();
    let subscriptions = session.subscriptions.clone();
    let client = session.identity.client_id.clone();
    ntex::rt::spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = &mut stop_rx => break,
                msg = rx.recv() => msg,
            };
            let msg = match msg {
                Ok(m) => m,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(client, skipped = n, "subscriber too slow; outgoing messages skipped");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let qos =
                subscriptions.borrow().iter().filter(|(f, _)| matches_filter(f, &msg.topic)).map(|(_, q)| *q).max();
            if let Some(qos) = qos
                && (!sink.is_open() || !sink.send(&msg.topic, msg.payload.clone(), qos).await)
            {
                break;
            }
        }
    });
}

/// Common publish handling: ACL, then the durable write. `Ok(true)` = acknowledge,
/// `Ok(false)` = refused (dead-lettered; v5 answers NotAuthorized).
async fn handle_publish(
    ctx: &IngestContext,
    session: &Session,
    topic: &str,
    payload: &[u8],
) -> Result<bool, EndpointError> {
    if !session.identity.may_publish(topic) {
        let user = session.identity.username().unwrap_or("anonymous");
        let reason = format!("user {user:?} is not allowed to publish to {topic:?}");
        tracing::warn!(client = session.identity.client_id, %reason, "publish refused");
        ctx.reject(SOURCE, topic, payload, &reason).await.map_err(|e| EndpointError(e.to_string()))?;
        return Ok(false);
    }
    ctx.ingest(SOURCE, topic, payload, session.identity.rights()).await.map_err(|e| {
        tracing::warn!(client = session.identity.client_id, error = %e, "write failed; closing without PUBACK");
        EndpointError(e.to_string())
    })?;
    Ok(true)
}

/// CONNECT credentials check, logged.
async fn connect(
    auth: &Authenticator,
    version: &str,
    client_id: &str,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Result<Identity, Refused> {
    let identity = auth.authenticate(client_id, username, password).await;
    match &identity {
        Ok(id) => tracing::debug!(client = id.client_id, user = id.username(), version, "MQTT connect"),
        Err(Refused::BadCredentials) => {
            tracing::warn!(client = client_id, user = username, version, "MQTT connect refused: bad credentials")
        }
        Err(Refused::AnonymousNotAllowed) => {
            tracing::warn!(client = client_id, version, "MQTT connect refused: anonymous sessions are not allowed")
        }
    }
    identity
}

/// The answer to one SUBSCRIBE entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubscribeOutcome {
    /// Recorded, with this QoS (0 or 1).
    Granted(u8),
    /// Not a valid filter, or the ACL does not allow it.
    NotAuthorized,
    /// The session already holds `max_subscriptions` filters.
    QuotaExceeded,
}

/// A SUBSCRIBE entry: records the filter if the ACL and the session's quota allow it.
/// Subscribing again to a filter the session holds replaces it (MQTT §3.8.4).
fn subscribe(session: &Session, filter: &str, wants_qos1: bool) -> SubscribeOutcome {
    if !session.identity.may_subscribe(filter) {
        tracing::warn!(client = session.identity.client_id, filter, "subscription refused by the ACL");
        return SubscribeOutcome::NotAuthorized;
    }
    let qos = u8::from(wants_qos1);
    let mut subscriptions = session.subscriptions.borrow_mut();
    if let Some(existing) = subscriptions.iter_mut().find(|(f, _)| f == filter) {
        existing.1 = qos;
    } else if subscriptions.len() >= session.max_subscriptions {
        tracing::warn!(client = session.identity.client_id, filter, "subscription refused: too many filters");
        return SubscribeOutcome::QuotaExceeded;
    } else {
        subscriptions.push((filter.to_string(), qos));
    }
    SubscribeOutcome::Granted(qos)
}

/// An UNSUBSCRIBE: forget those filters.
fn unsubscribe<'a>(session: &Session, filters: impl Iterator<Item = &'a str>) {
    let gone: Vec<&str> = filters.collect();
    session.subscriptions.borrow_mut().retain(|(f, _)| !gone.contains(&f.as_str()));
}

/// Keep-alive: the server may drop a client silent for 1.5 × its keep-alive (MQTT §3.1.2.10).
fn idle_timeout(keep_alive: u16) -> Seconds {
    if keep_alive == 0 {
        Seconds::ZERO
    } else {
        Seconds((u32::from(keep_alive) * 3 / 2).min(u32::from(u16::MAX)) as u16)
    }
}

/// Builds the v3.1.1 server (a macro because ntex-mqtt's builder types cannot be named).
macro_rules! v3_server {
    ($config:expr, $auth:expr, $ctx:expr) => {{
        let config: Arc<EndpointConfig> = $config;
        let auth: Arc<Authenticator> = $auth;
        let ctx: IngestContext = $ctx;
        let handshake = {
            let config = config.clone();
            move |hs: v3::Handshake| {
                let (config, auth) = (config.clone(), auth.clone());
                async move {
                    let pkt = hs.packet();
                    let keep_alive = pkt.keep_alive;
                    let username = pkt.username.as_ref().map(|u| u.as_ref());
                    match connect(&auth, "3.1.1", &pkt.client_id, username, pkt.password.as_deref()).await {
                        Ok(identity) => {
                            let sink = hs.sink();
                            let session = Session::new(identity, config.max_subscriptions);
                            Ok::<_, EndpointError>(
                                hs.ack((session, sink), false).idle_timeout(idle_timeout(keep_alive)),
                            )
                        }
                        Err(Refused::BadCredentials) => Ok(hs.bad_username_or_pwd()),
                        Err(Refused::AnonymousNotAllowed) => Ok(hs.not_authorized()),
                    }
                }
            }
        };
        let publish_ctx = ctx.clone();
        let control_ctx = ctx;
        v3::MqttServer::new(fn_service(handshake))
            .max_receive(config.max_inflight)
            .max_receive_size(config.max_packet_bytes as usize * 4)
            .max_size(config.max_packet_bytes)
            .publish(fn_factory_with_config(move |session: v3::Session<(Session, v3::MqttSink)>| {
                let ctx = publish_ctx.clone();
                Ready::Ok::<_, EndpointError>(fn_service(move |publish: v3::Publish| {
                    let ctx = ctx.clone();
                    let session = session.clone();
                    async move {
                        let payload = publish.read_all().await.map_err(|e| EndpointError(format!("{e:?}")))?;
                        // v3 cannot refuse a publish; a refused one is dead-lettered and acknowledged.
                        handle_publish(&ctx, &session.0, publish.publish_topic(), &payload).await?;
                        Ok::<(), EndpointError>(())
                    }
                }))
            }))
            .control(fn_factory_with_config(move |session: v3::Session<(Session, v3::MqttSink)>| {
                let ctx = control_ctx.clone();
                Ready::Ok::<_, EndpointError>(fn_service(move |control: v3::Control<EndpointError>| {
                    let ack = match control {
                        v3::Control::Subscribe(mut s) => {
                            let state = &session.0;
                            for mut sub in s.iter_mut() {
                                let filter = sub.topic().to_string();
                                // v3.1.1 has one failure code (0x80) for every refusal.
                                match subscribe(state, &filter, sub.qos() != v3::QoS::AtMostOnce) {
                                    SubscribeOutcome::Granted(0) => sub.confirm(v3::QoS::AtMostOnce),
                                    SubscribeOutcome::Granted(_) => sub.confirm(v3::QoS::AtLeastOnce),
                                    SubscribeOutcome::NotAuthorized | SubscribeOutcome::QuotaExceeded => sub.fail(),
                                }
                            }
                            ensure_forwarder(&ctx, state, OutSink::V3(session.1.clone()));
                            s.ack()
                        }
                        v3::Control::Unsubscribe(s) => {
                            unsubscribe(&session.0, s.iter().map(|t| t.as_ref()));
                            s.ack()
                        }
                        other => other.ack(),
                    };
                    Ready::Ok::<_, EndpointError>(ack)
                }))
            }))
            .finish()
    }};
}

/// Builds the v5 server.
macro_rules! v5_server {
    ($config:expr, $auth:expr, $ctx:expr) => {{
        let config: Arc<EndpointConfig> = $config;
        let auth: Arc<Authenticator> = $auth;
        let ctx: IngestContext = $ctx;
        let handshake = {
            let config = config.clone();
            move |hs: v5::Handshake| {
                let (config, auth) = (config.clone(), auth.clone());
                async move {
                    let pkt = hs.packet();
                    let keep_alive = pkt.keep_alive;
                    let username = pkt.username.as_ref().map(|u| u.as_ref());
                    match connect(&auth, "5", &pkt.client_id, username, pkt.password.as_deref()).await {
                        Ok(identity) => {
                            let sink = hs.sink();
                            let max_inflight = config.max_inflight;
                            let session = Session::new(identity, config.max_subscriptions);
                            Ok::<_, EndpointError>(hs.ack((session, sink)).keep_alive(keep_alive).with(|ack| {
                                ack.receive_max = std::num::NonZeroU16::new(max_inflight).unwrap_or(ack.receive_max)
                            }))
                        }
                        Err(Refused::BadCredentials) => {
                            Ok(hs.failed(v5::codec::ConnectAckReason::BadUserNameOrPassword))
                        }
                        Err(Refused::AnonymousNotAllowed) => Ok(hs.failed(v5::codec::ConnectAckReason::NotAuthorized)),
                    }
                }
            }
        };
        let publish_ctx = ctx.clone();
        let control_ctx = ctx;
        v5::MqttServer::new(fn_service(handshake))
            .max_receive(config.max_inflight)
            .max_receive_size(config.max_packet_bytes as usize * 4)
            .max_size(config.max_packet_bytes)
            .publish(fn_factory_with_config(move |session: v5::Session<(Session, v5::MqttSink)>| {
                let ctx = publish_ctx.clone();
                Ready::Ok::<_, EndpointError>(fn_service(move |publish: v5::Publish| {
                    let ctx = ctx.clone();
                    let session = session.clone();
                    async move {
                        let payload = publish.read_all().await.map_err(|e| EndpointError(format!("{e:?}")))?;
                        let topic = publish.publish_topic().to_string();
                        let accepted = handle_publish(&ctx, &session.0, &topic, &payload).await?;
                        let ack = if accepted {
                            publish.ack()
                        } else {
                            publish.ack().reason_code(v5::codec::PublishAckReason::NotAuthorized)
                        };
                        Ok::<v5::PublishAck, EndpointError>(ack)
                    }
                }))
            }))
            .control(fn_factory_with_config(move |session: v5::Session<(Session, v5::MqttSink)>| {
                let ctx = control_ctx.clone();
                Ready::Ok::<_, EndpointError>(fn_service(move |control: v5::Control<EndpointError>| {
                    let ack = match control {
                        v5::Control::Subscribe(mut s) => {
                            let state = &session.0;
                            for mut sub in s.iter_mut() {
                                let filter = sub.topic().to_string();
                                match subscribe(state, &filter, sub.options().qos != v5::QoS::AtMostOnce) {
                                    SubscribeOutcome::Granted(0) => sub.confirm(v5::QoS::AtMostOnce),
                                    SubscribeOutcome::Granted(_) => sub.confirm(v5::QoS::AtLeastOnce),
                                    SubscribeOutcome::NotAuthorized => {
                                        sub.fail(v5::codec::SubscribeAckReason::NotAuthorized)
                                    }
                                    SubscribeOutcome::QuotaExceeded => {
                                        sub.fail(v5::codec::SubscribeAckReason::QuotaExceeded)
                                    }
                                }
                            }
                            ensure_forwarder(&ctx, state, OutSink::V5(session.1.clone()));
                            s.ack()
                        }
                        v5::Control::Unsubscribe(s) => {
                            unsubscribe(&session.0, s.iter().map(|t| t.as_ref()));
                            s.ack()
                        }
                        other => other.ack(),
                    };
                    Ready::Ok::<_, EndpointError>(ack)
                }))
            }))
            .finish()
    }};
}

/// The MQTT service for one ntex worker: protocol version detection, then v3.1.1 or v5.
/// Generic over the I/O filter: a plain socket or one behind TLS.
fn mqtt_service<F: ntex::io::Filter>(
    config: Arc<EndpointConfig>,
    auth: Arc<Authenticator>,
    ctx: IngestContext,
) -> impl ServiceFactory<ntex::io::Io<F>, Response = (), Error = ntex_mqtt::MqttError<EndpointError>, InitError = ()> + 'static
{
    let v3 = v3_server!(config.clone(), auth.clone(), ctx.clone());
    let v5 = v5_server!(config, auth, ctx);
    MqttServer::new().v3(v3).v5(v5)
}

/// The same service behind a TLS handshake.
fn mqtts_service(
    tls: Arc<rustls::ServerConfig>,
    config: Arc<EndpointConfig>,
    auth: Arc<Authenticator>,
    ctx: IngestContext,
) -> impl ServiceFactory<ntex::io::Io> + 'static {
    chain_factory(ntex::tls::rustls::TlsAcceptor::new(tls))
        .map_err(|e| ntex_mqtt::MqttError::Service(EndpointError(format!("TLS handshake failed: {e}"))))
        .and_then(mqtt_service(config, auth, ctx))
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: io::Error },
    #[error("{0}")]
    Other(String),
}

impl From<StartError> for io::Error {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Bind { source, addr } => io::Error::new(source.kind(), format!("{addr}: {source}")),
            other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// A running endpoint.
pub struct EndpointHandle {
    /// The plain listener's address (useful with port 0); `None` with `plain = false`.
    pub local_addr: Option<SocketAddr>,
    /// The TLS listener's address, when `[mqtt.tls]` is configured.
    pub tls_addr: Option<SocketAddr>,
    server: ntex::server::Server,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for EndpointHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointHandle")
            .field("local_addr", &self.local_addr)
            .field("tls_addr", &self.tls_addr)
            .finish_non_exhaustive()
    }
}

/// The rustls server configuration of `[mqtt.tls]`, with errors naming the file at fault.
pub fn tls_server_config(tls_config: &EndpointTlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    let certs = tls::load_certs("[mqtt.tls] cert", &tls_config.cert)?;
    let key = tls::load_key("[mqtt.tls] key", &tls_config.key)?;
    rustls::ServerConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            TlsError::Config(format!(
                "[mqtt.tls] cert {} and key {}: {}",
                tls_config.cert.display(),
                tls_config.key.display(),
                tls::describe(e)
            ))
        })
}

fn bind(addr: &str) -> Result<(std::net::TcpListener, SocketAddr), StartError> {
    let bind_err = |source| StartError::Bind { addr: addr.to_string(), source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

/// Checks the configuration, binds the plain and/or TLS listener and serves MQTT on ntex
/// worker threads until [`EndpointHandle::stop`].
pub fn start(config: EndpointConfig, ctx: IngestContext) -> Result<EndpointHandle, StartError> {
    config.check()?;
    for user in config.plain_password_users() {
        tracing::warn!(
            user,
            "MQTT user {user:?} has a plain-text password in the configuration; \
             store an argon2id password_hash instead (fieldline passwd)"
        );
    }
    if !config.users.is_empty() && config.anonymous_allowed() {
        tracing::warn!("allow_anonymous = true: clients without a username connect with the [mqtt.anonymous] ACL");
    }
    let auth = Arc::new(Authenticator::new(&config).map_err(|e| StartError::Other(e.to_string()))?);
    let tls = match &config.tls {
        Some(t) => Some((Arc::new(tls_server_config(t)?), bind(&t.listen)?)),
        None => None,
    };
    let plain = if config.plain { Some(bind(&config.listen)?) } else { None };
    let local_addr = plain.as_ref().map(|(_, a)| *a);
    let tls_addr = tls.as_ref().map(|(_, (_, a))| *a);
    let config = Arc::new(config);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("fieldline-mqtt".into())
        .spawn(move || {
            ntex::rt::System::new("fieldline-mqtt").run(move || {
                let workers = config.workers.max(1);
                let mut builder = ntex::server::build().workers(workers).disable_signals().stop_runtime();
                if let Some((listener, _)) = plain {
                    let (config, auth, ctx) = (config.clone(), auth.clone(), ctx.clone());
                    builder = builder
                        .listen("mqtt", listener, move |_| mqtt_service(config.clone(), auth.clone(), ctx.clone()))?;
                }
                if let Some((tls, (listener, _))) = tls {
                    builder = builder.listen("mqtts", listener, move |_| {
                        mqtts_service(tls.clone(), config.clone(), auth.clone(), ctx.clone())
                    })?;
                }
                let _ = tx.send(builder.run());
                Ok(())
            })
        })
        .map_err(|e| StartError::Other(format!("cannot start the MQTT thread: {e}")))?;
    let server = rx.recv().map_err(|_| StartError::Other("MQTT endpoint failed to start".into()))?;
    tracing::info!(plain = ?local_addr, tls = ?tls_addr, "MQTT endpoint listening");
    Ok(EndpointHandle { local_addr, tls_addr, server, thread: Some(thread) })
}

impl EndpointHandle {
    /// Stops accepting connections and closes the open ones; in-flight publishes whose
    /// write has not completed are not acknowledged (clients redeliver them).
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
