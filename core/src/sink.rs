//! The one way points leave a stage: [`PointSink`]. The store implements it; sources call
//! it and acknowledge (PUBACK, HTTP 204) only after the returned future resolved `Ok`, which
//! by contract means the points are durable (in the fsync'd write-ahead log).

use std::future::Future;
use std::pin::Pin;

use crate::point::Point;

/// Why a write did not become durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    #[error("store is shutting down")]
    ShuttingDown,
    #[error("store write failed: {0}")]
    Io(String),
}

/// Future returned by [`PointSink::write`].
pub type WriteFuture = Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'static>>;

/// A durable destination for points.
pub trait PointSink: Send + Sync + 'static {
    /// Queues `points` for writing. The future resolves once they are durable, or with the
    /// reason they are not. Backpressure: the call waits while the writer's queue is full.
    fn write(&self, points: Vec<Point>) -> WriteFuture;
}
