//! A `fieldline simulate --out` directory as the evaluation reads it: one CSV per device kind
//! (`time, site, device`, tag columns, then fields) loaded into per-device columns, and the
//! windows of readings the detection engine takes from it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, bail};
use fieldline_core::FieldValue;
use fieldline_core::time::{EpochNumbers, parse_data_time};
use time::UtcOffset;

use super::{column_index, parse_value};
use crate::jobs::detect::{DeviceRows, KindRows, Rows, Window};

/// Readings of one device: times and one column per field (NaN = missing).
pub(super) struct DeviceData {
    pub(super) site: String,
    pub(super) path: String,
    pub(super) times: Vec<i64>,
    pub(super) columns: Vec<Vec<f64>>,
    /// Codes into [`KindData::statuses`], when the kind has a status column.
    pub(super) status: Vec<u8>,
}

/// One CSV file of the simulator: a device kind.
pub(super) struct KindData {
    pub(super) kind: String,
    pub(super) fields: Vec<String>,
    pub(super) statuses: Vec<String>,
    pub(super) devices: Vec<DeviceData>,
}

impl KindData {
    pub(super) fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    pub(super) fn value(&self, device: &DeviceData, field: usize, row: usize) -> f64 {
        device.columns.get(field).and_then(|c| c.get(row)).copied().unwrap_or(f64::NAN)
    }
}

/// Columns that are tags, not fields.
const TAG_COLUMNS: [&str; 3] = ["issued", "species", "trap_type"];

pub(super) fn load_kind(path: &Path, kind: &str) -> anyhow::Result<KindData> {
    let mut reader =
        csv::ReaderBuilder::new().from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let time_col = column_index(&headers, "time", path)?;
    let site_col = column_index(&headers, "site", path)?;
    let device_col = column_index(&headers, "device", path)?;
    let field_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(i, h)| ![time_col, site_col, device_col].contains(i) && !TAG_COLUMNS.contains(h))
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let status_col = field_cols.iter().position(|(_, name)| name == "status");
    let mut data = KindData {
        kind: kind.to_string(),
        fields: field_cols.iter().map(|(_, n)| n.clone()).collect(),
        statuses: Vec::new(),
        devices: Vec::new(),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut key = String::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    while reader.read_record(&mut record).with_context(|| format!("{} line {}", path.display(), line + 1))? {
        line += 1;
        let time_text = record.get(time_col).unwrap_or("");
        let Some(t) = parse_data_time(time_text, UtcOffset::UTC, EpochNumbers::BySize) else {
            bail!("{} line {line}: cannot read the time {time_text:?}", path.display());
        };
        let (site, device) = (record.get(site_col).unwrap_or(""), record.get(device_col).unwrap_or(""));
        key.clear();
        key.push_str(site);
        key.push('/');
        key.push_str(device);
        let d = match index.get(key.as_str()) {
            Some(&d) => d,
            None => {
                data.devices.push(DeviceData {
                    site: site.to_string(),
                    path: key.clone(),
                    times: Vec::new(),
                    columns: vec![Vec::new(); field_cols.len()],
                    status: Vec::new(),
                });
                index.insert(key.clone(), data.devices.len() - 1);
                data.devices.len() - 1
            }
        };
        let Some(device) = data.devices.get_mut(d) else { continue };
        device.times.push(t);
        for (c, (col, _)) in field_cols.iter().enumerate() {
            let text = record.get(*col).unwrap_or("");
            let value = match text {
                "true" => 1.0,
                "false" => 0.0,
                _ => parse_value(text).0,
            };
            if let Some(column) = device.columns.get_mut(c) {
                column.push(value);
            }
            if Some(c) == status_col {
                let code = match data.statuses.iter().position(|s| s == text) {
                    Some(code) => code,
                    None => {
                        data.statuses.push(text.to_string());
                        data.statuses.len() - 1
                    }
                };
                device.status.push(u8::try_from(code).unwrap_or(u8::MAX));
            }
        }
    }
    // Rows come in time order from the simulator; sort anyway so lookups can bisect.
    for device in &mut data.devices {
        if !device.times.is_sorted() {
            let mut order: Vec<usize> = (0..device.times.len()).collect();
            order.sort_by_key(|&i| device.times.get(i).copied().unwrap_or(0));
            let pick = |v: &Vec<f64>| order.iter().map(|&i| v.get(i).copied().unwrap_or(f64::NAN)).collect();
            device.columns = device.columns.iter().map(pick).collect();
            device.times = order.iter().map(|&i| device.times.get(i).copied().unwrap_or(0)).collect();
            if !device.status.is_empty() {
                device.status = order.iter().map(|&i| device.status.get(i).copied().unwrap_or(u8::MAX)).collect();
            }
        }
    }
    Ok(data)
}

/// The readings of `[start − lag, end)` as the detection engine takes them, for every kind
/// and device.
pub(super) fn window_of(kinds: &[KindData], start: i64, end: i64, lag: i64) -> Window {
    let mut window = Window::new();
    for kind in kinds {
        let mut rows_of_kind = KindRows::default();
        for device in &kind.devices {
            let from = device.times.partition_point(|&t| t < start - lag);
            let to = device.times.partition_point(|&t| t < end);
            let mut rows = Rows::new();
            for row in from..to {
                let Some(&t) = device.times.get(row) else { continue };
                let mut fields = BTreeMap::new();
                for (f, name) in kind.fields.iter().enumerate() {
                    if name == "status" {
                        let code = device.status.get(row).map(|c| usize::from(*c));
                        if let Some(text) = code.and_then(|c| kind.statuses.get(c)) {
                            fields.insert(name.clone(), FieldValue::Str(text.clone()));
                        }
                        continue;
                    }
                    let value = kind.value(device, f, row);
                    if value.is_finite() {
                        fields.insert(name.clone(), FieldValue::Float(value));
                    }
                }
                rows.insert(t, fields);
            }
            let name = device.path.rsplit('/').next().unwrap_or(&device.path).to_string();
            let key = format!("{}/{}", kind.kind, device.path);
            rows_of_kind.devices.insert(key, DeviceRows { site: device.site.clone(), device: name, rows });
        }
        window.insert(kind.kind.clone(), rows_of_kind);
    }
    window
}
