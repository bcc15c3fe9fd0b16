//! The second factor of administrative roles (D-5): time-based one-time passwords
//! (RFC 6238 over RFC 4226's HOTP with HMAC-SHA1, 30-second steps, 6 digits, one step
//! either side accepted), their base32 secrets and `otpauth://` enrolment address, and
//! recovery codes (10 per enrolment, stored only as hashes).
//!
//! Pure rules: the time and the randomness are handed in; comparisons of codes take the
//! same time whatever their content.

use ring::hmac;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::time::Timestamp;

/// RFC 6238 §4: the time step X.
pub const STEP_SECONDS: i64 = 30;
/// RFC 4226 §5.3: the number of digits shown.
pub const DIGITS: u32 = 6;
/// RFC 6238 §5.2: steps accepted on either side of the current one (clock drift,
/// a code typed just as it changed).
pub const WINDOW: i64 = 1;
/// Recovery codes handed out per enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The length of a secret: 160 bits, HMAC-SHA1's own size (RFC 4226 §4 R6).
pub const SECRET_BYTES: usize = 20;

/// A shared TOTP secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl TotpSecret {
    /// A new secret from 160 random bits.
    pub fn from_random(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes.to_vec())
    }

    /// A secret as stored (decrypted); `None` when empty.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (!bytes.is_empty()).then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 §6 base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> String {
        let mut out = String::with_capacity(self.0.len().div_ceil(5) * 8);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for &b in &self.0 {
            buffer = (buffer << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// Parses base32 (any case, spaces and padding ignored); `None` if not base32.
    pub fn from_base32(text: &str) -> Option<Self> {
        let mut out = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let v = BASE32.iter().position(|&b| char::from(b) == c.to_ascii_uppercase())?;
            buffer = (buffer << 5) | u32::try_from(v).ok()?;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push(((buffer >> bits) & 0xff) as u8);
            }
        }
        Self::from_bytes(out)
    }

    /// The same secret written in groups of four for typing by hand.
    pub fn to_grouped_base32(&self) -> String {
        let b = self.to_base32();
        b.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
    }
}

/// RFC 4226 §5.3: HOTP(K, C) = Truncate(HMAC-SHA-1(K, C)) mod 10^digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let h = mac.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let binary = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    binary % 10u32.pow(digits)
}

/// RFC 6238 §4.2: the time step T = floor((Unix time − T0) / X), T0 = 0.
pub fn step_at(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(1000).div_euclid(STEP_SECONDS)
}

/// The code for `step`, zero-padded to [`DIGITS`].
pub fn code_at_step(secret: &TotpSecret, step: i64) -> String {
    let code = hotp(secret.as_bytes(), u64::try_from(step).unwrap_or(0), DIGITS);
    format!("{code:0width$}", width = DIGITS as usize)
}

/// The code an authenticator shows at `t`.
pub fn code_at(secret: &TotpSecret, t: Timestamp) -> String {
    code_at_step(secret, step_at(t))
}

/// Checks a typed code at `now`: the step it belongs to if it matches one of the steps
/// within [`WINDOW`] of now and is later than `last_step` (RFC 6238 §5.2: a code is
/// accepted once, so a replay is refused). Every candidate is compared, in constant time.
pub fn verify(secret: &TotpSecret, typed: &str, now: Timestamp, last_step: Option<i64>) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut accepted = None;
    for step in (current - WINDOW)..=(current + WINDOW) {
        let expected = code_at_step(secret, step);
        let matches = bool::from(expected.as_bytes().ct_eq(typed.as_bytes()));
        if matches && last_step.is_none_or(|last| step > last) && accepted.is_none() {
            accepted = Some(step);
        }
    }
    accepted
}

/// Whether a typed answer has the shape of a TOTP code (digits only, spaces aside).
pub fn looks_like_totp(typed: &str) -> bool {
    let digits: Vec<char> = typed.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS as usize && digits.iter().all(char::is_ascii_digit)
}

/// Key URI Format (Google Authenticator's `otpauth://totp/ISSUER:LABEL?...`), which
/// every authenticator app reads from the QR code.
pub fn otpauth_uri(issuer: &str, login: &str, secret: &TotpSecret) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        uri_escape(issuer),
        uri_escape(login),
        secret.to_base32(),
        uri_escape(issuer)
    )
}

fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Crockford's base32 alphabet (no I, L, O, U), lower-case: nothing in it can be
/// mistaken for anything else when read from paper.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per recovery code: 50 bits.
const RECOVERY_LEN: usize = 10;

/// A recovery code as shown once to the person: `xxxx-xxxx-xx`. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    /// A code from 10 random bytes (5 bits of each are used).
    pub fn from_random(bytes: [u8; RECOVERY_LEN]) -> Self {
        Self(bytes.iter().map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 31)])).collect())
    }

    /// The code in the form it is shown: `xxxx-xxxx-xx`.
    pub fn display(&self) -> String {
        format!("{}-{}-{}", &self.0[..4], &self.0[4..8], &self.0[8..])
    }

    /// A typed code read leniently: any case, dashes and spaces ignored, `i`/`l` read as
    /// `1` and `o` as `0` (Crockford). `None` if it cannot be a recovery code.
    pub fn parse(typed: &str) -> Option<Self> {
        let mut out = String::with_capacity(RECOVERY_LEN);
        for c in typed.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let c = match c.to_ascii_lowercase() {
                'i' | 'l' => '1',
                'o' => '0',
                c => c,
            };
            if !RECOVERY_ALPHABET.contains(&u8::try_from(c).ok()?) {
                return None;
            }
            out.push(c);
        }
        (out.len() == RECOVERY_LEN).then_some(Self(out))
    }

    /// What is stored: SHA-256 over the account and the code, hex. 50 random bits per
    /// code and a salt per account put a stolen table out of a precomputed attack.
    pub fn hash(&self, account: &str) -> String {
        hex::encode(sha2::Sha256::digest(format!("propusk recovery\0{account}\0{}", self.0).as_bytes()))
    }
}

/// Whether two stored hashes are equal, in constant time.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's seed for SHA-1: the ASCII string "12345678901234567890".
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let want = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, want) in want.into_iter().enumerate() {
            assert_eq!(hotp(SEED, counter as u64, 6), want, "counter {counter}");
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        // (Unix time, 8-digit TOTP) from Appendix B's table, SHA1 rows.
        let cases = [
            (59_i64, 94287082_u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (t, want) in cases {
            let step = step_at(Timestamp::from_millis(t * 1000));
            assert_eq!(hotp(SEED, step as u64, 8), want, "T = {t}");
            // The six digits shown are the last six of the eight.
            let secret = TotpSecret::from_bytes(SEED.to_vec()).expect("secret");
            assert_eq!(code_at(&secret, Timestamp::from_millis(t * 1000)), format!("{:06}", want % 1_000_000));
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        // RFC 4648 §10.
        for (plain, encoded) in [("f", "MY"), ("fo", "MZXQ"), ("foo", "MZXW6"), ("foobar", "MZXW6YTBOI")] {
            let s = TotpSecret::from_bytes(plain.as_bytes().to_vec()).expect("secret");
            assert_eq!(s.to_base32(), encoded);
            assert_eq!(TotpSecret::from_base32(&encoded.to_lowercase()).expect("parse"), s);
        }
        let s = TotpSecret::from_random([7; SECRET_BYTES]);
        assert_eq!(s.to_base32().len(), 32, "160 bits are 32 base32 characters");
        assert_eq!(TotpSecret::from_base32(&s.to_grouped_base32()), Some(s.clone()));
        assert_eq!(TotpSecret::from_base32("not base32!"), None);
        assert_eq!(TotpSecret::from_base32(""), None);
        assert!(format!("{s:?}").contains("redacted"));
    }

    #[test]
    fn one_step_either_side_is_accepted_and_no_further() {
        let s = TotpSecret::from_random([42; SECRET_BYTES]);
        let now = Timestamp::from_millis(1_800_000_000_000);
        let at = |secs: i64| Timestamp::from_millis(now.as_millis() + secs * 1000);
        let step = step_at(now);
        assert_eq!(verify(&s, &code_at(&s, now), now, None), Some(step));
        assert_eq!(verify(&s, &code_at(&s, at(-30)), now, None), Some(step - 1));
        assert_eq!(verify(&s, &code_at(&s, at(30)), now, None), Some(step + 1));
        assert_eq!(verify(&s, &code_at(&s, at(-60)), now, None), None);
        assert_eq!(verify(&s, &code_at(&s, at(60)), now, None), None);
        // Spaces are forgiven; other shapes are not codes at all.
        let c = code_at(&s, now);
        assert_eq!(verify(&s, &format!("{} {}", &c[..3], &c[3..]), now, None), Some(step));
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(verify(&s, bad, now, None), None, "{bad:?}");
        }
        let other = TotpSecret::from_random([43; SECRET_BYTES]);
        assert_eq!(verify(&other, &c, now, None).filter(|_| code_at(&other, now) != c), None);
    }

    #[test]
    fn a_code_is_accepted_once() {
        let s = TotpSecret::from_random([9; SECRET_BYTES]);
        let now = Timestamp::from_millis(1_800_000_000_000);
        let step = verify(&s, &code_at(&s, now), now, None).expect("first use");
        assert_eq!(verify(&s, &code_at(&s, now), now, Some(step)), None, "replay refused");
        // Nor may an earlier code still in the window follow a later one.
        let earlier = Timestamp::from_millis(now.as_millis() - 30_000);
        assert_eq!(verify(&s, &code_at(&s, earlier), now, Some(step)), None);
        let next = Timestamp::from_millis(now.as_millis() + 30_000);
        assert_eq!(verify(&s, &code_at(&s, next), next, Some(step)), Some(step + 1));
    }

    #[test]
    fn the_enrolment_address_names_issuer_login_and_secret() {
        let s = TotpSecret::from_bytes(b"foobar".to_vec()).expect("secret");
        let uri = otpauth_uri("Колледж ЭИОС", "ivanov.i", &s);
        assert!(uri.starts_with("otpauth://totp/%D0%9A"), "{uri}");
        assert!(uri.contains("%20%D0%AD"), "{uri}");
        assert!(uri.contains(":ivanov.i?secret=MZXW6YTBOI&issuer=%D0%9A"), "{uri}");
        assert!(uri.ends_with("&algorithm=SHA1&digits=6&period=30"), "{uri}");
    }

    #[test]
    fn recovery_codes_are_unambiguous_and_read_leniently() {
        let c = RecoveryCode::from_random([0, 1, 2, 3, 31, 30, 29, 28, 200, 255]);
        let shown = c.display();
        assert_eq!(shown, "0123-zyxw-8z");
        assert!(!shown.contains(['i', 'l', 'o', 'u']));
        assert_eq!(RecoveryCode::parse("0123-ZYXW-8Z"), Some(c.clone()));
        assert_eq!(RecoveryCode::parse(" o123 zyxw 8z "), Some(c.clone()), "O read as zero");
        assert_eq!(RecoveryCode::parse("0l23zyxw8z").map(|p| p.display()), Some("0123-zyxw-8z".into()));
        for bad in ["", "0123-zyxw-8", "0123-zyxw-8zz", "0123-zyxw-8u", "0123-zyxw-8я"] {
            assert_eq!(RecoveryCode::parse(bad), None, "{bad:?}");
        }
        let h = c.hash("acc-1");
        assert_eq!(h.len(), 64);
        assert_ne!(h, c.hash("acc-2"), "salted per account");
        assert!(same_hash(&h, &c.hash("acc-1")));
        assert!(!same_hash(&h, &c.hash("acc-2")));
        assert!(format!("{c:?}").contains("redacted"));
    }

    #[test]
    fn codes_have_the_shape_of_codes() {
        assert!(looks_like_totp("123 456"));
        assert!(!looks_like_totp("0123-zyxw-8z"));
        assert!(!looks_like_totp("12345"));
    }
}
