//! fieldline-core: what every stage of fieldline shares, and nothing else.
//!
//! The data model ([`point`]: a [`Point`] is InfluxDB's `(measurement, tags, fields,
//! timestamp)`), the one way points leave a stage ([`sink::PointSink`], whose future resolves
//! only once they are durable), time ([`time`]: the clock, the unit constants, and the one
//! parser of RFC 3339, dates, `now` and `-2h` that the API, the commands and the simulator use)
//! and the device kinds ([`kinds`]: each kind's fields, units and physical limits, the one table
//! the ingest schema, the simulator and the detectors read).
//! The other crates depend on this one; it depends on none of them.

pub mod kinds;
pub mod point;
pub mod sink;
pub mod time;

pub use kinds::{FieldSchema, KindSchema};
pub use point::{FieldValue, Point};
