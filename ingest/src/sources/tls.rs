//! TLS material for both MQTT sources: PEM certificate chains and private keys read from the
//! files an operator configured (with errors that name the config key and the path), and the
//! one crypto provider fieldline uses (rustls with ring).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS file that could not be used, or a certificate and key rustls refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key} {path}: {reason}")]
    File { key: &'static str, path: PathBuf, reason: String },
    #[error("{0}")]
    Config(String),
}

/// rustls with the ring provider (fieldline builds no other).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file (a chain: leaf first). `key` names the setting in errors.
pub fn load_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |reason: String| TlsError::File { key, path: path.to_path_buf(), reason };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(pem_reason(e)))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".into()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        key,
        path: path.to_path_buf(),
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (-----BEGIN PRIVATE KEY-----) in the file".into()
            }
            other => pem_reason(other),
        },
    })
}

/// rustls's refusal of a certificate and key, in words an operator acts on.
pub fn describe(e: rustls::Error) -> String {
    match e {
        rustls::Error::InconsistentKeys(_) => "the private key does not belong to the certificate".into(),
        other => other.to_string(),
    }
}

fn pem_reason(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => format!("cannot read: {io}"),
        other => format!("not a valid PEM file: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_setting_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = load_certs("[mqtt.tls] cert", &missing).unwrap_err().to_string();
        assert!(e.starts_with("[mqtt.tls] cert ") && e.contains("missing.pem") && e.contains("cannot read"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        let e = load_certs("[mqtt.tls] cert", &empty).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = load_key("[mqtt.tls] key", &empty).unwrap_err().to_string();
        assert!(e.contains("[mqtt.tls] key") && e.contains("no PEM private key"), "{e}");
    }
}
