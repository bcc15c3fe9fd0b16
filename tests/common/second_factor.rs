//! The second factor of administrative roles (D-5) for end-to-end tests: completes the
//! step after a right password like a person with an authenticator app would, enrolling
//! the first time and then using the recovery codes it was shown (one per sign-in, so a
//! test need not wait for the next 30-second step).

use propusk::domain::Timestamp;
use propusk::domain::totp::{TotpSecret, code_at};

use super::{Server, input_value, location};

/// What a person keeps after enrolling: the secret and the unused recovery codes.
#[derive(Default)]
pub struct Keys {
    pub secret: Option<TotpSecret>,
    pub recovery: Vec<String>,
}

/// The current time shifted by `secs`.
pub fn now_plus(secs: i64) -> Timestamp {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    Timestamp::from_millis(i64::try_from(ms).expect("ms") + secs * 1000)
}

/// The key written out on an enrolment page.
pub fn secret_on(page: &str) -> TotpSecret {
    let start = page.find("class=\"secret\">").expect("the key is written out") + "class=\"secret\">".len();
    let end = page[start..].find('<').expect("end");
    TotpSecret::from_base32(&page[start..start + end]).expect("base32 key")
}

/// The recovery codes listed on a page.
pub fn recovery_codes_on(page: &str) -> Vec<String> {
    page.match_indices("<li><code>").map(|(i, _)| page[i + 10..i + 10 + 12].to_owned()).collect()
}

/// After the sign-in form's answer `r`: when it leads to the second factor, enrols (the
/// first time) or types the next recovery code; returns where the browser goes next.
pub async fn complete(server: &Server, c: &reqwest::Client, r: reqwest::Response, keys: &mut Keys) -> String {
    if location(&r) != "/sign-in/second-factor" {
        return location(&r);
    }
    let page = c.get(server.url("/sign-in/second-factor")).send().await.expect("get").text().await.expect("body");
    let csrf = input_value(&page, "csrf").expect("csrf");
    if page.contains("class=\"secret\"") {
        let secret = secret_on(&page);
        let code = code_at(&secret, now_plus(0));
        let r = c
            .post(server.url("/sign-in/second-factor"))
            .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
            .send()
            .await
            .expect("enrol");
        let page = r.text().await.expect("body");
        keys.recovery = recovery_codes_on(&page);
        keys.secret = Some(secret);
        let r = c
            .post(server.url("/sign-in/second-factor/saved"))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .expect("saved");
        return location(&r);
    }
    let code = keys.recovery.pop().expect("a recovery code left");
    let r = c
        .post(server.url("/sign-in/second-factor"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .expect("code");
    location(&r)
}
