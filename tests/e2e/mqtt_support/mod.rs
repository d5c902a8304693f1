//! Helpers of the MQTT security and TLS tests: a Mosquitto broker with a configuration the
//! test writes (listeners, TLS, password file), client certificates signed by a CA of the
//! test's own, and waiting until fieldline's broker subscription is in place.
//! (Each test file using it also declares `mod common;`.)

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{mosquitto_pub, points, wait_for};

/// A Mosquitto broker running the configuration a test wrote; killed when dropped.
pub struct Broker {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Broker {
    /// Starts Mosquitto with `conf` (listeners and their settings) plus persistence in its own
    /// directory, and waits until every port in `ports` accepts connections.
    pub fn start(dir: tempfile::TempDir, conf: &str, ports: &[u16]) -> Self {
        let path = dir.path().join("mosquitto.conf");
        // Started as root, Mosquitto drops to the `mosquitto` user and then cannot read our
        // temp dir; keep it as root (CI runs as root).
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 { "user root\n" } else { "" };
        let persistence = format!("persistence true\npersistence_location {}/\n", dir.path().display());
        std::fs::write(&path, format!("{user}{persistence}max_queued_messages 100000\n{conf}")).unwrap();
        let log = std::fs::File::create(dir.path().join("mosquitto.log")).unwrap();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto is installed by scripts/test.sh");
        let broker = Broker { child, dir };
        for &port in ports {
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "mosquitto did not listen on {port}: {}", broker.log());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        broker
    }

    /// What Mosquitto wrote to stderr (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Mosquitto password file with these users, made by `mosquitto_passwd`.
pub fn mosquitto_password_file(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("passwd");
    for (i, (user, password)) in users.iter().enumerate() {
        let mut cmd = Command::new("mosquitto_passwd");
        cmd.arg("-b");
        if i == 0 {
            cmd.arg("-c");
        }
        let out = cmd.arg(&path).args([user, password]).output().unwrap();
        assert!(out.status.success(), "mosquitto_passwd: {}", String::from_utf8_lossy(&out.stderr));
    }
    path
}

/// A client certificate and key (PEM files) signed by a CA of their own, whose certificate
/// is returned too, for brokers that require client certificates.
pub struct ClientCert {
    pub ca_pem: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn make_client_certificate(dir: &Path, name: &str) -> ClientCert {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "fieldline test client CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let files = ClientCert { ca_pem: ca.pem(), cert: dir.join("client.pem"), key: dir.join("client.key") };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

/// Publishes probes to `port` (extra `mosquitto_pub` arguments in `auth`) until one is
/// queryable at `http_addr`: fieldline's broker subscription is in place.
pub async fn wait_until_subscribed(http_addr: std::net::SocketAddr, port: u16, auth: &[&str]) {
    let client = reqwest::Client::new();
    let url = format!("http://{http_addr}/api/v1/query?measurement=probe&field=ok");
    wait_for("fieldline subscribed at the broker", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            mosquitto_pub(port, "fl/v1/lp", "probe ok=1", auth);
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            (!points(&v).is_empty()).then_some(())
        }
    })
    .await;
}

/// The newest dead letter's reason, if any.
pub async fn newest_dead_letter(http: &reqwest::Client, http_addr: std::net::SocketAddr) -> Option<(usize, String)> {
    let v: Value = http.get(format!("http://{http_addr}/api/v1/deadletters")).send().await.ok()?.json().await.ok()?;
    let letters = v["deadletters"].as_array()?;
    Some((letters.len(), letters.first()?["reason"].as_str()?.to_string()))
}
