//! TLS material: loading the configured certificate, or generating a development
//! certificate authority and server certificate on first start.
//!
//! Private keys are written with mode 0600 and never logged.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("cannot generate the development certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Paths of a generated development certificate.
#[derive(Debug, Clone)]
pub struct DevCert {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Whether this start generated it.
    pub created: bool,
}

/// Returns the development certificate in `dir`, generating it if it is not there.
pub fn ensure_dev_cert(dir: &Path) -> Result<DevCert, TlsError> {
    let out = DevCert {
        ca: dir.join("dev-ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        created: false,
    };
    if out.cert.exists() && out.key.exists() {
        return Ok(out);
    }
    fs::create_dir_all(dir).map_err(|e| TlsError::Write(dir.to_owned(), e))?;

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, "propusk development CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;

    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.not_after = rcgen::date_time_ymd(2028, 1, 1);
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key)?;

    write(&out.ca, ca_cert.pem().as_bytes(), 0o644)?;
    write(&dir.join("dev-ca.key"), ca_key.serialize_pem().as_bytes(), 0o600)?;
    write(&out.key, leaf_key.serialize_pem().as_bytes(), 0o600)?;
    // The chain: leaf then CA.
    write(&out.cert, format!("{}{}", leaf_cert.pem(), ca_cert.pem()).as_bytes(), 0o644)?;
    Ok(DevCert { created: true, ..out })
}

fn write(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| TlsError::Write(path.to_owned(), e))?;
    f.write_all(data).map_err(|e| TlsError::Write(path.to_owned(), e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn generates_once_with_private_keys_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = ensure_dev_cert(dir.path()).expect("generate");
        assert!(first.created);
        let mode = fs::metadata(&first.key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let pem = fs::read_to_string(&first.cert).expect("cert");
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
        let again = ensure_dev_cert(dir.path()).expect("reuse");
        assert!(!again.created);
        assert_eq!(fs::read_to_string(&again.cert).expect("cert"), pem);
    }
}
