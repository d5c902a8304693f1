//! fieldline's own MQTT endpoint (v3.1.1 and v5, QoS 0 and 1) on ntex-mqtt.
//!
//! It is not a general broker: devices publish readings to it, and clients may subscribe to
//! fieldline's outgoing topics (alerts, forecasts). ntex-mqtt sends a PUBACK only when the
//! publish handler's future completes, and the handler completes only after the store has
//! made the message's points durable, so an acknowledged reading survives kill -9. A failed
//! write closes the connection without PUBACK, so the client redelivers.
//!
//! ntex runs its own single-threaded runtimes; [`start`] runs them on a dedicated thread and
//! returns an [`EndpointHandle`] the tokio side can stop.

pub mod config;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use ntex::service::{ServiceFactory, fn_factory_with_config, fn_service};
use ntex::time::Seconds;
use ntex::util::Ready;
use ntex_mqtt::{MqttServer, v3, v5};
use tokio::sync::oneshot;

pub use config::{EndpointConfig, Identity, UserConfig};

use super::IngestContext;
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
    /// Dropping this (when the connection ends) stops the forwarding task.
    forwarder: RefCell<Option<oneshot::Sender<()>>>,
}

impl Session {
    fn new(identity: Identity) -> Self {
        Session { identity, subscriptions: Rc::default(), forwarder: RefCell::new(None) }
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

/// CONNECT credentials check, logged; `None` refuses the connection.
fn connect(
    config: &EndpointConfig,
    version: &str,
    client_id: &str,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Option<Identity> {
    let identity = config.authenticate(client_id, username, password);
    match &identity {
        Some(id) => tracing::debug!(client = id.client_id, version, "MQTT connect"),
        None => tracing::warn!(client = client_id, version, "MQTT connect refused: bad credentials"),
    }
    identity
}

/// A SUBSCRIBE entry: the QoS granted (0 or 1, and recorded), or `None` if the ACL refuses it.
fn subscribe(session: &Session, filter: &str, wants_qos1: bool) -> Option<u8> {
    if !session.identity.may_subscribe(filter) {
        return None;
    }
    let qos = u8::from(wants_qos1);
    session.subscriptions.borrow_mut().push((filter.to_string(), qos));
    Some(qos)
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
    ($config:expr, $ctx:expr) => {{
        let config: Arc<EndpointConfig> = $config;
        let ctx: IngestContext = $ctx;
        let handshake = {
            let config = config.clone();
            move |hs: v3::Handshake| {
                let config = config.clone();
                async move {
                    let pkt = hs.packet();
                    let keep_alive = pkt.keep_alive;
                    let username = pkt.username.as_ref().map(|u| u.as_ref());
                    match connect(&config, "3.1.1", &pkt.client_id, username, pkt.password.as_deref()) {
                        Some(identity) => {
                            let sink = hs.sink();
                            Ok::<_, EndpointError>(
                                hs.ack((Session::new(identity), sink), false).idle_timeout(idle_timeout(keep_alive)),
                            )
                        }
                        None => Ok(hs.bad_username_or_pwd()),
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
                                match subscribe(state, &filter, sub.qos() != v3::QoS::AtMostOnce) {
                                    Some(0) => sub.confirm(v3::QoS::AtMostOnce),
                                    Some(_) => sub.confirm(v3::QoS::AtLeastOnce),
                                    None => sub.fail(),
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
    ($config:expr, $ctx:expr) => {{
        let config: Arc<EndpointConfig> = $config;
        let ctx: IngestContext = $ctx;
        let handshake = {
            let config = config.clone();
            move |hs: v5::Handshake| {
                let config = config.clone();
                async move {
                    let pkt = hs.packet();
                    let keep_alive = pkt.keep_alive;
                    let username = pkt.username.as_ref().map(|u| u.as_ref());
                    match connect(&config, "5", &pkt.client_id, username, pkt.password.as_deref()) {
                        Some(identity) => {
                            let sink = hs.sink();
                            let max_inflight = config.max_inflight;
                            Ok::<_, EndpointError>(hs.ack((Session::new(identity), sink)).keep_alive(keep_alive).with(
                                |ack| {
                                    ack.receive_max = std::num::NonZeroU16::new(max_inflight).unwrap_or(ack.receive_max)
                                },
                            ))
                        }
                        None => Ok(hs.failed(v5::codec::ConnectAckReason::BadUserNameOrPassword)),
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
                                    Some(0) => sub.confirm(v5::QoS::AtMostOnce),
                                    Some(_) => sub.confirm(v5::QoS::AtLeastOnce),
                                    None => sub.fail(v5::codec::SubscribeAckReason::NotAuthorized),
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
fn mqtt_service(config: Arc<EndpointConfig>, ctx: IngestContext) -> impl ServiceFactory<ntex::io::Io> + 'static {
    let v3 = v3_server!(config.clone(), ctx.clone());
    let v5 = v5_server!(config, ctx);
    MqttServer::new().v3(v3).v5(v5)
}

/// A running endpoint.
pub struct EndpointHandle {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    server: ntex::server::Server,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for EndpointHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointHandle").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// Binds `config.listen` and serves MQTT on ntex worker threads until [`EndpointHandle::stop`].
pub fn start(config: EndpointConfig, ctx: IngestContext) -> io::Result<EndpointHandle> {
    let listener = std::net::TcpListener::bind(&config.listen)?;
    let local_addr = listener.local_addr()?;
    let config = Arc::new(config);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name("fieldline-mqtt".into()).spawn(move || {
        ntex::rt::System::new("fieldline-mqtt").run(move || {
            let workers = config.workers.max(1);
            let server = ntex::server::build()
                .workers(workers)
                .disable_signals()
                .stop_runtime()
                .listen("mqtt", listener, move |_| mqtt_service(config.clone(), ctx.clone()))?
                .run();
            let _ = tx.send(server);
            Ok(())
        })
    })?;
    let server = rx.recv().map_err(|_| io::Error::other("MQTT endpoint failed to start"))?;
    tracing::info!(%local_addr, "MQTT endpoint listening");
    Ok(EndpointHandle { local_addr, server, thread: Some(thread) })
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
