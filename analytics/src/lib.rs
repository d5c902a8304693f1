//! fieldline-analytics: pure models on time series, no I/O and no async runtime.
//!
//! Solar geometry and clear-sky irradiance ([`solar`]), agronomy (degree days, FAO-56 ET0:
//! [`agronomy`]), crops as data (stages, heat sums, crop coefficients: [`crops`]), pest flights and warning
//! levels from trap counters ([`pests`]), stage-date (bloom) forecasts and their fitting ([`bloom`]), the root-zone water
//! balance and irrigation advice ([`water`]), power forecasting with the grid's scoring rules and E-language export
//! ([`forecast`]), streaming anomaly detection for sensors, turbines, PV, pests and peony
//! plots ([`anomaly`]). Inputs are plain slices and small structs so the server, the CLI and the
//! simulator can all call the same code.

pub mod agronomy;
pub mod anomaly;
pub mod bloom;
pub mod crops;
pub mod forecast;
pub mod pests;
pub mod solar;
pub mod water;
