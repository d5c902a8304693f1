//! An OpenSSH server (Debian's openssh-server) on a loopback port, for the SFTP upload tests:
//! its own host key, one authorized client key, the current user, files under a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Sshd {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// The client's private key.
    pub identity: PathBuf,
    /// known_hosts with this server's key.
    pub known_hosts: PathBuf,
    /// An empty directory to upload into.
    pub remote: PathBuf,
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (apt-get install openssh-client; scripts/test.sh does)");
    assert!(status.success());
}

impl Sshd {
    pub fn start() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        keygen(&p("host_key"));
        keygen(&p("client_key"));
        std::fs::copy(p("client_key.pub"), p("authorized_keys")).unwrap();
        std::fs::create_dir(p("remote")).unwrap();
        let port = super::free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n",
            p("host_key").display(),
            p("authorized_keys").display(),
            p("sshd.pid").display()
        );
        std::fs::write(p("sshd_config"), config).unwrap();
        let host_key = std::fs::read_to_string(p("host_key.pub")).unwrap();
        let key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(p("known_hosts"), format!("[127.0.0.1]:{port} {}\n", key.join(" "))).unwrap();
        // sshd wants its privilege-separation directory (the service would create it).
        let _ = std::fs::create_dir_all("/run/sshd");
        let mut sshd = Sshd {
            child: None,
            port,
            identity: p("client_key"),
            known_hosts: p("known_hosts"),
            remote: p("remote"),
            dir,
        };
        sshd.resume();
        sshd
    }

    /// Starts (again) on the same port, and waits until it takes connections.
    pub fn resume(&mut self) {
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/sbin/sshd (apt-get install openssh-server; scripts/test.sh does)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "sshd did not listen on {}", self.port);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::terminate(&mut child);
        }
    }

    pub fn url(&self) -> String {
        format!("sftp://{}@127.0.0.1:{}{}", whoami(), self.port, self.remote.display())
    }

    /// A known_hosts file naming another key for this server (a man in the middle).
    pub fn wrong_known_hosts(&self) -> PathBuf {
        let other = self.dir.path().join("other_key");
        keygen(&other);
        let key = std::fs::read_to_string(other.with_extension("pub")).unwrap();
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        let path = self.dir.path().join("wrong_known_hosts");
        std::fs::write(&path, format!("[127.0.0.1]:{} {}\n", self.port, key.join(" "))).unwrap();
        path
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
