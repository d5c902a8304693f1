//! A VictoriaMetrics process (Debian's package) for the tests of the InfluxDB mirror: on a
//! fixed port and storage dir, so it can be stopped and started again where it was, read back
//! through its export API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::wait_for;

/// A VictoriaMetrics process on a fixed port and storage dir, so it can be stopped and
/// started again where it was.
pub struct Vm {
    child: Option<Child>,
    port: u16,
    storage: PathBuf,
    extra: Vec<String>,
}

impl Vm {
    pub fn start(storage: &Path) -> Vm {
        Vm::start_with(storage, &[])
    }

    /// With extra flags, e.g. `-dedup.minScrapeInterval=1ms` (keep one sample per series and
    /// timestamp, as InfluxDB does; VM keeps every copy by default).
    pub fn start_with(storage: &Path, extra: &[&str]) -> Vm {
        let mut vm = Vm {
            child: None,
            port: super::free_port(),
            storage: storage.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        vm.resume();
        vm
    }

    pub fn resume(&mut self) {
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", self.storage.display()))
            .arg("-retentionPeriod=100y")
            .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
            .arg("-loggerLevel=ERROR")
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("victoria-metrics (apt-get install victoria-metrics; scripts/test.sh does)");
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::terminate(&mut child);
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn wait_healthy(&self, http: &reqwest::Client) {
        let url = format!("{}/health", self.url());
        wait_for("VictoriaMetrics healthy", Duration::from_secs(60), || async {
            http.get(&url).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
        })
        .await;
    }

    /// Every sample of series named `name` (`<measurement>_<field>`), by time.
    pub async fn export(&self, http: &reqwest::Client, name: &str) -> Vec<(i64, f64)> {
        let _ = http.get(format!("{}/internal/force_flush", self.url())).send().await;
        let text = http
            .get(format!("{}/api/v1/export", self.url()))
            .query(&[("match[]", format!("{{__name__=\"{name}\"}}"))])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut samples = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let series: Value = serde_json::from_str(line).unwrap();
            let times = series["timestamps"].as_array().unwrap();
            let values = series["values"].as_array().unwrap();
            samples.extend(times.iter().zip(values).map(|(t, v)| (t.as_i64().unwrap(), v.as_f64().unwrap())));
        }
        samples.sort_by_key(|s| s.0);
        samples
    }

    pub async fn wait_for_samples(&self, http: &reqwest::Client, name: &str, n: usize) -> Vec<(i64, f64)> {
        wait_for(&format!("{n} samples of {name} in VictoriaMetrics"), Duration::from_secs(90), || async {
            let samples = self.export(http, name).await;
            (samples.len() >= n).then_some(samples)
        })
        .await
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.stop();
    }
}
