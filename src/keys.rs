//! Signing keys: generation (RS256 and ES256), encryption at rest with the node's master
//! key (AES-256-GCM), rotation, and JSON Web Token signing and verification with ring.
//!
//! Keys live in the store so that every node signs with the same keys and sees a
//! rotation made on any of them; the private halves are encrypted with a master key that
//! each node reads from a 0600 file. A new key is published in the JWKS at creation and
//! used for signing only from its activation time; an old key stays published until
//! every token it signed has expired.
//!
//! Every node re-reads the keys every [`REFRESH`] (only keys it has not seen are
//! decrypted), and signs with a key only [`SETTLE`] after it first saw it: by then every
//! node that reads the store has seen it too and publishes it, so no token reaches a
//! client signed with a key another node does not publish, even after `keys rotate --now`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};

use crate::domain::oidc::SigningAlg;
use crate::domain::time::Timestamp;
use crate::ports::oidc::{OidcChange, SignError, StoredKey, TokenSigner};
use crate::ports::{Change, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("master key file {0}: {1}")]
    MasterKey(String, String),
    #[error("key {0} cannot be decrypted: wrong master key (keys.master_key_file) or damaged data")]
    Decrypt(String),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The AES-256-GCM key that encrypts signing keys at rest. `Debug` never shows it.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Reads the 32-byte key (base64) from `path`, creating it with mode 0600 if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let err = |e: String| KeyError::MasterKey(path.display().to_string(), e);
        let bytes = match std::fs::read_to_string(path) {
            Ok(text) => STANDARD.decode(text.trim()).map_err(|_| err("not base64".into()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut b = [0u8; 32];
                SystemRandom::new().fill(&mut b).map_err(|_| err("no randomness".into()))?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
                }
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| err(e.to_string()))?;
                f.write_all(STANDARD.encode(b).as_bytes()).map_err(|e| err(e.to_string()))?;
                b.to_vec()
            }
            Err(e) => return Err(err(e.to_string())),
        };
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| err("must hold 32 bytes".into()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    fn seal(&self, kid: &str, plain: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; 12];
        SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError::Generate("no randomness".into()))?;
        let mut data = plain.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut data)
            .map_err(|_| KeyError::Generate("encryption failed".into()))?;
        Ok(STANDARD.encode([nonce.as_slice(), &data].concat()))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, KeyError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| KeyError::Decrypt(kid.into()))?;
        if bytes.len() < 12 {
            return Err(KeyError::Decrypt(kid.into()));
        }
        let (nonce, rest) = bytes.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Decrypt(kid.into()))?;
        let mut data = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut data)
            .map_err(|_| KeyError::Decrypt(kid.into()))?;
        Ok(plain.to_vec())
    }
}

/// Second-factor secrets (D-5) are sealed with the same master key, under their own
/// context (the associated data), so a sealed secret never opens as a signing key.
impl crate::ports::second_factor::Sealer for MasterKey {
    fn seal(&self, context: &str, plain: &[u8]) -> Result<String, crate::ports::second_factor::SealError> {
        MasterKey::seal(self, context, plain).map_err(|_| crate::ports::second_factor::SealError::Seal)
    }

    fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, crate::ports::second_factor::SealError> {
        MasterKey::open(self, context, sealed).map_err(|_| crate::ports::second_factor::SealError::Open)
    }
}

enum Signer {
    /// ring's pair gives the public key and verifies; OpenSSL's key signs.
    Rsa(RsaKeyPair, PKey<Private>),
    Ec(EcdsaKeyPair),
}

/// How often a node re-reads the keys from the store.
pub const REFRESH: Duration = Duration::from_secs(2);

/// How long after a node first sees a key it may sign with it: two refreshes and a
/// second, so that every other node has read the key by then (a slow query included).
pub const SETTLE: Duration = Duration::from_secs(5);

struct LoadedKey {
    kid: String,
    alg: SigningAlg,
    signer: Signer,
    jwk: Value,
    activates_at: Timestamp,
    /// When this node first read the key (its monotonic clock).
    seen_at: Instant,
    /// From when every node publishes the key.
    settled_at: Instant,
}

/// The rotation settings.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// A key older than this is replaced automatically.
    pub rotate_after: Duration,
    /// How long a new key is published before it signs (so relying parties fetch it).
    pub publish_ahead: Duration,
    /// How long a replaced key stays published (the longest lifetime of a signed token).
    pub keep_after: Duration,
}

/// The keys of every algorithm, refreshed from the store.
pub struct KeyRing {
    keys: RwLock<Vec<Arc<LoadedKey>>>,
    /// The last JWKS served and the key ids it lists: rendered again only when they change.
    jwks: std::sync::Mutex<(Vec<String>, Arc<str>)>,
    master: MasterKey,
    policy: KeyPolicy,
    clock: Arc<dyn crate::ports::Clock>,
    settle: Duration,
}

impl KeyRing {
    /// Loads the keys, creating the first ones (active at once) when the store has none.
    pub async fn open(
        store: &dyn Store,
        master: MasterKey,
        policy: KeyPolicy,
        clock: Arc<dyn crate::ports::Clock>,
    ) -> Result<Self, KeyError> {
        let jwks = std::sync::Mutex::new((Vec::new(), Arc::from("")));
        let ring = KeyRing { keys: RwLock::new(Vec::new()), jwks, master, policy, clock, settle: SETTLE };
        for alg in SigningAlg::ALL {
            let have = store.list_signing_keys().await?.iter().any(|k| k.alg == alg);
            if !have {
                ring.create(store, alg, Duration::ZERO).await?;
            }
        }
        ring.refresh(store).await?;
        Ok(ring)
    }

    /// Re-reads the keys from the store (another node may have rotated them). Keys
    /// already loaded are kept as they are (a key never changes); a new one settles
    /// `SETTLE` from now, or at once when it is found at start and was created long
    /// enough ago for every node to have read it.
    pub async fn refresh(&self, store: &dyn Store) -> Result<(), KeyError> {
        let stored = store.list_signing_keys().await?;
        // After the read: a key it found was committed before this instant.
        let seen = Instant::now();
        let known: Vec<Arc<LoadedKey>> = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        let at_start = known.is_empty();
        let mut loaded = Vec::with_capacity(stored.len());
        for k in stored {
            if let Some(have) = known.iter().find(|h| h.kid == k.kid) {
                loaded.push(have.clone());
                continue;
            }
            let old_enough = self.clock.now().since(k.created_at) >= self.settle + SKEW_MARGIN;
            let settled_at = if at_start && old_enough { seen } else { seen + self.settle };
            loaded.push(Arc::new(self.load(k, seen, settled_at)?));
        }
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    fn load(&self, k: StoredKey, seen_at: Instant, settled_at: Instant) -> Result<LoadedKey, KeyError> {
        let der = self.master.open(&k.kid, &k.encrypted_private)?;
        let signer = match k.alg {
            SigningAlg::RS256 => Signer::Rsa(
                RsaKeyPair::from_pkcs8(&der).map_err(|e| KeyError::Generate(e.to_string()))?,
                PKey::private_key_from_pkcs8(&der).map_err(|e| KeyError::Generate(e.to_string()))?,
            ),
            SigningAlg::ES256 => Signer::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
                    .map_err(|e| KeyError::Generate(e.to_string()))?,
            ),
        };
        let jwk = serde_json::from_str(&k.public_jwk).map_err(|e| KeyError::Generate(e.to_string()))?;
        Ok(LoadedKey { kid: k.kid, alg: k.alg, signer, jwk, activates_at: k.activates_at, seen_at, settled_at })
    }

    /// The same ring with another settling time (tests that cannot wait).
    #[cfg(test)]
    fn settling(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Creates a new key for each algorithm, published now and signing after
    /// `publish_ahead` (or at once with `Duration::ZERO`, for a suspected key leak).
    pub async fn rotate(&self, store: &dyn Store, publish_ahead: Duration) -> Result<Vec<String>, KeyError> {
        let mut kids = Vec::new();
        for alg in SigningAlg::ALL {
            kids.push(self.create(store, alg, publish_ahead).await?);
        }
        self.refresh(store).await?;
        Ok(kids)
    }

    /// Rotates when the signing key of any algorithm is older than the policy allows
    /// and no successor is already waiting. Returns whether it rotated.
    pub async fn rotate_if_due(&self, store: &dyn Store) -> Result<bool, KeyError> {
        let now = self.clock.now();
        let due = {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            SigningAlg::ALL.into_iter().any(|alg| {
                let newest = keys.iter().filter(|k| k.alg == alg).map(|k| k.activates_at).max();
                newest.is_none_or(|t| now.since(t) >= self.policy.rotate_after)
            })
        };
        if due {
            self.rotate(store, self.policy.publish_ahead).await?;
        }
        Ok(due)
    }

    async fn create(&self, store: &dyn Store, alg: SigningAlg, publish_ahead: Duration) -> Result<String, KeyError> {
        let now = self.clock.now();
        let mut id = [0u8; 12];
        SystemRandom::new().fill(&mut id).map_err(|_| KeyError::Generate("no randomness".into()))?;
        let kid = format!("{}-{}", alg.as_str().to_lowercase(), URL_SAFE_NO_PAD.encode(id));
        let (der, jwk) = tokio::task::spawn_blocking(move || generate(alg))
            .await
            .map_err(|e| KeyError::Generate(e.to_string()))??;
        let mut jwk = jwk;
        jwk["kid"] = Value::String(kid.clone());
        let key = StoredKey {
            encrypted_private: self.master.seal(&kid, &der)?,
            kid: kid.clone(),
            alg,
            public_jwk: jwk.to_string(),
            created_at: now,
            activates_at: now.saturating_add(publish_ahead),
        };
        store.commit(vec![Change::Oidc(OidcChange::InsertSigningKey(key))]).await?;
        tracing::info!(%kid, alg = alg.as_str(), "signing key created");
        Ok(kid)
    }

    /// The key that signs for `alg` now: the newest one already active that every node
    /// publishes; when none has settled yet (a new store, a node started just after a
    /// rotation), the one this node has known longest, the oldest of those.
    fn current(&self, alg: SigningAlg) -> Option<Arc<LoadedKey>> {
        let now = self.clock.now();
        let settled = Instant::now();
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let active = || keys.iter().filter(|k| k.alg == alg && k.activates_at <= now);
        active()
            .filter(|k| k.settled_at <= settled)
            .max_by_key(|k| k.activates_at)
            .or_else(|| active().min_by_key(|k| (k.seen_at, k.activates_at)))
            .cloned()
    }

    /// Keys to publish: upcoming ones, the current one, and replaced ones for as long
    /// as tokens they signed may still be valid.
    fn published(&self) -> Vec<Arc<LoadedKey>> {
        let now = self.clock.now();
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter(|k| {
                let replaced_at = keys
                    .iter()
                    .filter(|n| n.alg == k.alg && n.activates_at > k.activates_at && n.activates_at <= now)
                    .map(|n| n.activates_at)
                    .min();
                replaced_at.is_none_or(|t| now < t.saturating_add(self.policy.keep_after))
            })
            .cloned()
            .collect()
    }
}

/// How far apart two readings of the database's clock may be for a key found at start
/// to count as read by every node (see `clock.rs`: nodes take the database's time).
const SKEW_MARGIN: Duration = Duration::from_secs(1);

fn generate(alg: SigningAlg) -> Result<(Vec<u8>, Value), KeyError> {
    let gen_err = |e: String| KeyError::Generate(e);
    match alg {
        SigningAlg::RS256 => {
            let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| gen_err(e.to_string()))?;
            let der = private.to_pkcs8_der().map_err(|e| gen_err(e.to_string()))?.as_bytes().to_vec();
            let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| gen_err(e.to_string()))?;
            let c: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e),
            });
            Ok((der, jwk))
        }
        SigningAlg::ES256 => {
            let rng = SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|e| gen_err(e.to_string()))?;
            let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng)
                .map_err(|e| gen_err(e.to_string()))?;
            let point = pair.public_key().as_ref();
            let jwk = json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            Ok((doc.as_ref().to_vec(), jwk))
        }
    }
}

impl TokenSigner for KeyRing {
    fn sign(&self, alg: SigningAlg, typ: &str, claims: &Value) -> Result<String, SignError> {
        let key = self.current(alg).ok_or(SignError::NoKey(alg.as_str()))?;
        let header = json!({ "alg": alg.as_str(), "typ": typ, "kid": key.kid });
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = match &key.signer {
            Signer::Rsa(_, private) => {
                let failed = |e: openssl::error::ErrorStack| SignError::Failed(e.to_string());
                let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), private).map_err(failed)?;
                signer.set_rsa_padding(Padding::PKCS1).map_err(failed)?;
                signer.sign_oneshot_to_vec(input.as_bytes()).map_err(failed)?
            }
            Signer::Ec(pair) => {
                let rng = SystemRandom::new();
                pair.sign(&rng, input.as_bytes()).map_err(|e| SignError::Failed(e.to_string()))?.as_ref().to_vec()
            }
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    fn verify(&self, jws: &str) -> Result<Value, SignError> {
        let mut parts = jws.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(SignError::Malformed);
        };
        let decode = |x: &str| URL_SAFE_NO_PAD.decode(x).map_err(|_| SignError::Malformed);
        let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| SignError::Malformed)?;
        let kid = header["kid"].as_str().ok_or(SignError::Malformed)?;
        let key = self.published().into_iter().find(|k| k.kid == kid).ok_or(SignError::BadSignature)?;
        if header["alg"].as_str() != Some(key.alg.as_str()) {
            return Err(SignError::BadSignature);
        }
        let sig = decode(s)?;
        let input = &jws.as_bytes()[..h.len() + 1 + p.len()];
        let ok = match &key.signer {
            Signer::Rsa(pair, _) => {
                signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pair.public().as_ref())
                    .verify(input, &sig)
            }
            Signer::Ec(pair) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
                    .verify(input, &sig)
            }
        };
        ok.map_err(|_| SignError::BadSignature)?;
        serde_json::from_slice(&decode(p)?).map_err(|_| SignError::Malformed)
    }

    fn jwks(&self) -> Arc<str> {
        let published = self.published();
        let mut cached = self.jwks.lock().unwrap_or_else(|p| p.into_inner());
        if !cached.1.is_empty() && cached.0.iter().eq(published.iter().map(|k| &k.kid)) {
            return cached.1.clone();
        }
        let doc = json!({ "keys": published.iter().map(|k| &k.jwk).collect::<Vec<_>>() });
        *cached = (published.iter().map(|k| k.kid.clone()).collect(), Arc::from(doc.to_string()));
        cached.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::TestClock;
    use std::sync::atomic::AtomicI64;

    fn jwks_of(ring: &KeyRing) -> Value {
        serde_json::from_str(&ring.jwks()).expect("the JWKS is JSON")
    }

    fn policy() -> KeyPolicy {
        KeyPolicy {
            rotate_after: Duration::from_secs(90 * 86_400),
            publish_ahead: Duration::from_secs(3600),
            keep_after: Duration::from_secs(86_400),
        }
    }

    #[tokio::test]
    async fn keys_sign_verify_and_rotate_with_overlap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000_000)));
        let master = MasterKey::load_or_create(&dir.path().join("master.key")).expect("master");
        let ring = KeyRing::open(store.as_ref(), master, policy(), clock.clone())
            .await
            .expect("ring")
            .settling(Duration::ZERO);
        let claims = json!({"sub": "x", "aud": "c"});
        let rs = ring.sign(SigningAlg::RS256, "JWT", &claims).expect("rs256");
        let es = ring.sign(SigningAlg::ES256, "JWT", &claims).expect("es256");
        assert_eq!(ring.verify(&rs).expect("verify"), claims);
        assert_eq!(ring.verify(&es).expect("verify"), claims);
        assert_eq!(jwks_of(&ring)["keys"].as_array().expect("keys").len(), 2);
        // Tampering is detected.
        let mut bad = es.clone();
        bad.replace_range(bad.len() - 4.., "AAAA");
        assert_eq!(ring.verify(&bad), Err(SignError::BadSignature));
        assert_eq!(ring.verify("a.b"), Err(SignError::Malformed));

        // A rotation publishes first and signs later; the old key stays published a day.
        ring.rotate(store.as_ref(), Duration::from_secs(3600)).await.expect("rotate");
        assert_eq!(jwks_of(&ring)["keys"].as_array().expect("keys").len(), 4);
        let old_kid = |t: &str| -> String {
            let h = URL_SAFE_NO_PAD.decode(t.split('.').next().expect("header")).expect("b64");
            serde_json::from_slice::<Value>(&h).expect("json")["kid"].as_str().expect("kid").to_owned()
        };
        let before = old_kid(&ring.sign(SigningAlg::RS256, "JWT", &claims).expect("sign"));
        assert_eq!(before, old_kid(&rs), "the new key does not sign before its time");
        clock.advance(Duration::from_secs(3601));
        let after = ring.sign(SigningAlg::RS256, "JWT", &claims).expect("sign");
        assert_ne!(old_kid(&after), before);
        assert!(ring.verify(&rs).is_ok(), "tokens of the old key still verify");
        clock.advance(Duration::from_secs(86_400));
        assert_eq!(jwks_of(&ring)["keys"].as_array().expect("keys").len(), 2, "the old keys are withdrawn");
        assert_eq!(ring.verify(&rs), Err(SignError::BadSignature));

        // Another node with the same master key and store signs with the same keys.
        let master2 = MasterKey::load_or_create(&dir.path().join("master.key")).expect("master");
        let ring2 = KeyRing::open(store.as_ref(), master2, policy(), clock.clone()).await.expect("ring2");
        assert!(ring2.verify(&after).is_ok());
        // A different master key cannot read them.
        let other = MasterKey::load_or_create(&dir.path().join("other.key")).expect("other");
        assert!(matches!(KeyRing::open(store.as_ref(), other, policy(), clock).await, Err(KeyError::Decrypt(_))));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("master.key")).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    fn kid_of(jws: &str) -> String {
        let h = URL_SAFE_NO_PAD.decode(jws.split('.').next().expect("header")).expect("b64");
        serde_json::from_slice::<Value>(&h).expect("json")["kid"].as_str().expect("kid").to_owned()
    }

    fn published_kids(ring: &KeyRing) -> Vec<String> {
        jwks_of(ring)["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_key_made_to_sign_at_once_signs_only_after_every_node_has_read_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000_000)));
        let path = dir.path().join("master.key");
        let settle = Duration::from_millis(400);
        let open = |clock: Arc<TestClock>| {
            let master = MasterKey::load_or_create(&path).expect("master");
            KeyRing::open(store.as_ref(), master, policy(), clock)
        };
        let a = open(clock.clone()).await.expect("node A").settling(settle);
        let b = open(clock.clone()).await.expect("node B").settling(settle);
        let claims = json!({"sub": "x"});
        let first = kid_of(&a.sign(SigningAlg::ES256, "JWT", &claims).expect("sign"));
        assert_eq!(kid_of(&b.sign(SigningAlg::ES256, "JWT", &claims).expect("sign")), first, "one key on a new store");

        clock.advance(Duration::from_secs(1));
        // `keys rotate --now` on A: A publishes the new key but still signs with the old
        // one, which B publishes; B has not read the store yet.
        let new = a.rotate(store.as_ref(), Duration::ZERO).await.expect("rotate");
        let new_es = new.iter().find(|k| k.starts_with("es256")).expect("an ES256 key").clone();
        assert!(published_kids(&a).contains(&new_es));
        assert!(!published_kids(&b).contains(&new_es));
        assert_eq!(kid_of(&a.sign(SigningAlg::ES256, "JWT", &claims).expect("sign")), first);
        // B reads the store: it publishes the key, and does not sign with it either.
        b.refresh(store.as_ref()).await.expect("refresh");
        assert!(published_kids(&b).contains(&new_es));
        assert_eq!(kid_of(&b.sign(SigningAlg::ES256, "JWT", &claims).expect("sign")), first);
        // Once settled, A signs with the new key and B verifies it.
        tokio::time::sleep(settle + Duration::from_millis(50)).await;
        let token = a.sign(SigningAlg::ES256, "JWT", &claims).expect("sign");
        assert_eq!(kid_of(&token), new_es);
        assert_eq!(b.verify(&token).expect("B verifies"), claims);

        // A node started now (a key created just before it) also waits before signing
        // with it; a node started long after the key was created signs with it at once.
        let c = open(clock.clone()).await.expect("node C").settling(settle);
        assert_eq!(kid_of(&c.sign(SigningAlg::ES256, "JWT", &claims).expect("sign")), first);
        clock.advance(Duration::from_secs(60));
        let d = open(clock.clone()).await.expect("node D").settling(settle);
        assert_eq!(kid_of(&d.sign(SigningAlg::ES256, "JWT", &claims).expect("sign")), new_es);
    }
}
