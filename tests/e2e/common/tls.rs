//! TLS material for the end-to-end tests: a throw-away certificate authority and a server
//! certificate for `127.0.0.1` and `localhost` signed by it, written as PEM files the way an
//! operator would configure them (`cert`, `key`, and the CA a client trusts).

use std::path::{Path, PathBuf};

/// PEM files of a test CA and a server certificate it signed.
pub struct TlsFiles {
    /// The CA certificate clients are told to trust.
    pub ca_cert: PathBuf,
    /// The server's certificate (leaf only) and private key (PKCS#8).
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The same as PEM text, for clients configured in code.
    pub ca_pem: String,
}

/// Creates the CA and the server certificate under `dir`.
pub fn make_certificates(dir: &Path) -> TlsFiles {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "fieldline test CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();

    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "fieldline test server");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();

    let files = TlsFiles {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        ca_pem: ca.pem(),
    };
    std::fs::write(&files.ca_cert, ca.pem()).unwrap();
    std::fs::write(&files.server_cert, cert.pem()).unwrap();
    std::fs::write(&files.server_key, key.serialize_pem()).unwrap();
    files
}
