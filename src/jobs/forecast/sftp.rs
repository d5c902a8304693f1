//! E files pushed to dispatch's SFTP server: after an E file is written into the drop
//! directory, a background thread uploads it with the system's OpenSSH `sftp` client
//! (batch mode, key authentication, the server's key checked against a known_hosts file) under
//! a temporary name and renames it, so the server's side never sees half a file either.
//!
//! OpenSSH rather than an SSH library: it is on every Linux box, already trusted by operators,
//! and brings its key handling, ciphers and host-key checking with it; a Rust SSH stack would
//! add a second crypto library to the build. A failed upload is retried with backoff (1 s
//! doubling to 60 s) until `sftp_give_up_secs` after the file was written (a forecast older than
//! that is superseded anyway); the local copy stays in the drop directory in every case.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

/// Where and how to upload: parsed from `[forecast.efile] sftp = "sftp://user@host[:port]/dir"`.
#[derive(Debug, Clone, PartialEq)]
pub struct SftpTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// Remote directory (absolute, or relative to the login directory).
    pub dir: String,
    pub identity: PathBuf,
    pub known_hosts: PathBuf,
    pub give_up: Duration,
}

impl SftpTarget {
    /// Parses and checks the settings: the URL, the key and known_hosts files, the client.
    pub fn new(
        url: &str,
        identity: Option<&Path>,
        known_hosts: Option<&Path>,
        give_up_secs: u64,
    ) -> Result<SftpTarget, String> {
        let rest = url.strip_prefix("sftp://").ok_or_else(|| format!("sftp {url:?}: must start with sftp://"))?;
        let (authority, dir) = rest.split_once('/').map_or((rest, ""), |(a, d)| (a, d));
        let (user, host_port) =
            authority.split_once('@').ok_or_else(|| format!("sftp {url:?}: name the user (sftp://user@host/dir)"))?;
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("sftp {url:?}: port {p:?} is not a number"))?),
            None => (host_port, 22),
        };
        if user.is_empty() || host.is_empty() {
            return Err(format!("sftp {url:?}: user and host must not be empty"));
        }
        let safe = |s: &str| !s.contains(['"', '\n', '\r']);
        if !safe(dir) {
            return Err(format!("sftp {url:?}: the directory may not contain quotes or line breaks"));
        }
        let identity = identity.ok_or("sftp needs sftp_identity: the private key to log in with")?.to_path_buf();
        let known_hosts = known_hosts
            .ok_or("sftp needs sftp_known_hosts: the server's host key, so a stranger is never sent forecasts")?
            .to_path_buf();
        for (what, path) in [("sftp_identity", &identity), ("sftp_known_hosts", &known_hosts)] {
            std::fs::metadata(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
        }
        if Command::new("sftp").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            return Err(
                "sftp is configured but the OpenSSH client is not installed (apt-get install openssh-client)".into()
            );
        }
        Ok(SftpTarget {
            user: user.to_string(),
            host: host.to_string(),
            port,
            dir: if dir.is_empty() { ".".into() } else { format!("/{dir}") },
            identity,
            known_hosts,
            give_up: Duration::from_secs(give_up_secs.max(1)),
        })
    }

    /// Uploads `local` as `<dir>/<its name>`, through a temporary name. The error is the
    /// client's own explanation.
    pub fn upload(&self, local: &Path) -> Result<(), String> {
        use std::io::Write;
        let name = local.file_name().and_then(|n| n.to_str()).ok_or("the E file has no UTF-8 name")?;
        let local_text = local.to_str().ok_or("the drop directory's path is not UTF-8")?;
        if [name, local_text].iter().any(|s| s.contains(['"', '\n', '\r'])) {
            return Err(format!("{name}: quotes or line breaks in a path"));
        }
        let (part, target) = (format!("{}/.{name}.part", self.dir), format!("{}/{name}", self.dir));
        let script = format!("put \"{local_text}\" \"{part}\"\nrename \"{part}\" \"{target}\"\n");
        let mut child = Command::new("sftp")
            .args(["-b", "-", "-P", &self.port.to_string(), "-i"])
            .arg(&self.identity)
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=15"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .arg(format!("{}@{}", self.user, self.host))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run sftp: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).map_err(|e| format!("sftp: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("sftp: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || stderr.contains("Host key verification failed")
        {
            "the server's host key is not the one in sftp_known_hosts; nothing was sent".to_string()
        } else {
            stderr
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty() && !l.starts_with('@'))
                .unwrap_or_default()
                .to_string()
        };
        Err(format!("sftp to {}@{}:{} failed ({}): {why}", self.user, self.host, self.port, out.status))
    }
}

/// Upload counters (`fieldline_forecast_efile_uploads_total`, `..._upload_failures_total`).
#[derive(Debug, Clone, Default)]
pub struct UploadMetrics {
    pub uploads: Counter,
    /// Files given up on after `sftp_give_up_secs` of failed attempts.
    pub failures: Counter,
}

/// The upload thread's queue; dropping it lets the thread finish what it holds and stop.
#[derive(Debug)]
pub struct SftpUploader {
    tx: mpsc::SyncSender<PathBuf>,
}

impl SftpUploader {
    pub fn start(target: SftpTarget, metrics: UploadMetrics) -> std::io::Result<SftpUploader> {
        // A day of both horizons for a few dozen plants; beyond that the server is gone and
        // the files wait in the drop directory.
        let (tx, rx) = mpsc::sync_channel::<PathBuf>(1024);
        std::thread::Builder::new().name("fieldline-sftp".into()).spawn(move || {
            for path in rx {
                let written = Instant::now();
                let mut delay = Duration::from_secs(1);
                loop {
                    match target.upload(&path) {
                        Ok(()) => {
                            metrics.uploads.inc();
                            tracing::info!(file = %path.display(), host = target.host, "E file uploaded over SFTP");
                            break;
                        }
                        Err(why) if written.elapsed() + delay > target.give_up => {
                            metrics.failures.inc();
                            tracing::error!(file = %path.display(), error = why, "E file NOT uploaded over SFTP; given up (the local copy stays)");
                            break;
                        }
                        Err(why) => {
                            tracing::warn!(file = %path.display(), error = why, retry_in_s = delay.as_secs(), "E file upload failed; retrying");
                            std::thread::sleep(delay);
                            delay = (delay * 2).min(Duration::from_secs(60));
                        }
                    }
                }
            }
        })?;
        Ok(SftpUploader { tx })
    }

    /// Queues `path` for upload (never blocks the forecast job).
    pub fn queue(&self, path: PathBuf) {
        if let Err(e) = self.tx.try_send(path) {
            let path = match e {
                mpsc::TrySendError::Full(p) | mpsc::TrySendError::Disconnected(p) => p,
            };
            tracing::error!(file = %path.display(), "SFTP upload queue full or stopped; the E file stays local only");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_says_user_host_port_and_dir_and_mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        std::fs::write(&key, "k").unwrap();
        let t = SftpTarget::new("sftp://dq@dispatch.example:2222/upload/dq", Some(&key), Some(&key), 900).unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port, t.dir.as_str()),
            ("dq", "dispatch.example", 2222, "/upload/dq")
        );
        let t = SftpTarget::new("sftp://dq@dispatch.example", Some(&key), Some(&key), 900).unwrap();
        assert_eq!((t.port, t.dir.as_str()), (22, "."));
        for (url, says) in [
            ("ftp://x@y/d", "sftp://"),
            ("sftp://dispatch.example/d", "user"),
            ("sftp://u@h:port/d", "port"),
            ("sftp://u@h/a\"b", "quotes"),
        ] {
            let e = SftpTarget::new(url, Some(&key), Some(&key), 900).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        let e = SftpTarget::new("sftp://u@h/d", Some(&key), None, 900).unwrap_err();
        assert!(e.contains("known_hosts"), "{e}");
        let e = SftpTarget::new("sftp://u@h/d", Some(&dir.path().join("missing")), Some(&key), 900).unwrap_err();
        assert!(e.contains("missing"), "{e}");
    }
}
