//! OpenID Connect Discovery 1.0 §3 and the JWKS (RFC 7517): exactly what is implemented.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::json;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::domain::oidc::KNOWN_SCOPES;
use crate::http::AppState;

pub async fn configuration(State(state): State<AppState>) -> Response {
    public_json(document(&state.app.issuer))
}

/// The discovery document for `iss`, rendered again only when the issuer differs from
/// the last one rendered (one server has one issuer).
fn document(iss: &str) -> Arc<str> {
    static LAST: Mutex<Option<(String, Arc<str>)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    match &*last {
        Some((of, doc)) if of == iss => doc.clone(),
        _ => {
            let doc = render(iss);
            *last = Some((iss.to_owned(), doc.clone()));
            doc
        }
    }
}

fn render(iss: &str) -> Arc<str> {
    let doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "end_session_endpoint": format!("{iss}/logout"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "scopes_supported": KNOWN_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
            "name", "preferred_username", "email", "email_verified", "roles", "groups"],
        "prompt_values_supported": ["none", "login"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "ui_locales_supported": ["ru", "en"],
    });
    Arc::from(doc.to_string())
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    public_json(state.app.signer.jwks())
}

/// Public, cacheable for five minutes, readable from any origin.
fn public_json(body: Arc<str>) -> Response {
    let mut resp = Response::new(axum::body::Body::from(Bytes::from_owner(ArcStr(body))));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}

/// A shared document as response bytes, without copying it.
struct ArcStr(Arc<str>);

impl AsRef<[u8]> for ArcStr {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
