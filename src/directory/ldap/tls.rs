//! The rustls client configuration for `ldaps://` and StartTLS: only the CA named by
//! `directory.ca_file` is trusted, and the server's name (or IP address) is verified.

use std::path::Path;
use std::sync::Arc;

use crate::ports::directory::DirectoryError;

pub fn client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let bad = |m: String| DirectoryError::Refused(format!("directory.ca_file {}: {m}", ca_file.display()));
    let pem = std::fs::read(ca_file).map_err(|e| bad(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.map_err(|e| bad(e.to_string()))?).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
