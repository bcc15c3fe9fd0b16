//! Nodes whose clocks disagree by minutes. Node B runs with libfaketime three minutes
//! ahead of node A (and, in the second test, three minutes behind); both share one
//! PostgreSQL database. Every node takes its time from the database (`src/clock.rs`), so
//! B decides as A does: a 60-second code from one node redeems at the other, tokens work
//! on both, B's ID tokens carry the true time, a TOTP code typed from a phone with the
//! right time is accepted at B, and a lock earned on A holds on B for its full minute and
//! no longer. Without that, B at +3 min refuses A's codes and ends A's locks at once, and
//! B at -3 min holds locks three minutes too long. See deploy/clocks.md.

mod common;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/store_db.rs"]
mod store_db;

use std::time::{Duration, Instant};

use common::second_factor::{Keys, complete};
use common::{Server, add_user, location};
use nodes::{Pair, Rp, change_password_at, code_at, libfaketime, pair_with, redeem_at, sign_in_at};
use reqwest::StatusCode;

const REDIRECT: &str = "https://portal.college.example/cb";

fn real_now_secs() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(d.as_secs()).expect("secs")
}

/// How far `node`'s own clock is from this machine's, in seconds, read from the `Date`
/// header its HTTP server writes from the system clock.
async fn skew_of(p: &Pair, node: &Server) -> i64 {
    let r = p.client().get(node.url("/healthz")).send().await.expect("healthz");
    let date = r.headers().get("date").expect("a Date header").to_str().expect("ascii").to_owned();
    let at = chrono::DateTime::parse_from_rfc2822(&date).expect("an HTTP date").timestamp();
    at - real_now_secs()
}

async fn skewed_node_decides_as_the_others(offset: &str, expected_skew: i64) {
    let lib = libfaketime();
    let p = pair_with(
        &[("PROPUSK_PROTECTION_LOCKOUT_MINUTES", "1")],
        &[("LD_PRELOAD", lib.as_str()), ("FAKETIME", offset), ("FAKETIME_DONT_FAKE_MONOTONIC", "1")],
    )
    .await;
    // The skew is real: B's own clock is off by the offset, A's is not.
    let (skew_a, skew_b) = (skew_of(&p, &p.a).await, skew_of(&p, &p.b).await);
    assert!(skew_a.abs() <= 5, "node A's clock: {skew_a} s");
    assert!((skew_b - expected_skew).abs() <= 5, "node B's clock is off by {skew_b} s, not {expected_skew}");
    assert!(p.b.log().contains("this machine's clock is off from the database's"), "B warns: {}", p.b.log());

    // A session from A works at B; codes from either node redeem at the other within
    // their 60 seconds; an access token from either works at the other's /userinfo.
    let c = p.client();
    let issued = add_user(&p.a, "chasovoy.ch", "Часовой Чеслав", "student");
    assert_eq!(location(&sign_in_at(&p.a, &c, "chasovoy.ch", &issued).await), "/account/password");
    change_password_at(&p.b, &c, &issued).await;
    let secret = p.add_client("portal", REDIRECT);
    let rp = Rp { id: "portal", secret: &secret, redirect_uri: REDIRECT };
    for (from, to) in [(&p.a, &p.b), (&p.b, &p.a)] {
        let code = code_at(from, &c, &rp).await;
        let (status, token) = redeem_at(to, &c, &rp, &code).await;
        assert_eq!(status, 200, "a code from {} redeemed at {}: {token}", from.base, to.base);
        let access = token["access_token"].as_str().expect("an access token");
        let info = c.get(from.url("/userinfo")).bearer_auth(access).send().await.expect("userinfo");
        assert_eq!(info.status(), StatusCode::OK, "a token from {} at {}", to.base, from.base);
        // The ID token tells a relying party the true time, whichever node signed it.
        let id_token = token["id_token"].as_str().expect("an ID token");
        let payload = id_token.split('.').nth(1).expect("a payload");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).expect("base64"),
        )
        .expect("json");
        let iat = claims["iat"].as_i64().expect("iat");
        assert!((iat - real_now_secs()).abs() <= 5, "{} signed iat {iat}, {} s off", to.base, iat - real_now_secs());
    }

    // An administrator enrols a second factor at B with a code of the true time.
    let admin = p.client();
    let issued = add_user(&p.a, "vremenshchik.v", "Временщик Виктор", "eios_admin");
    let mut keys = Keys::default();
    let r = sign_in_at(&p.b, &admin, "vremenshchik.v", &issued).await;
    let to = complete(&p.b, &admin, r, &mut keys).await;
    assert!(!keys.recovery.is_empty(), "B accepted the TOTP code (then {to:?})");

    // A lock earned on A (one minute) holds on B for its full minute, and no longer.
    let guesser = p.client();
    let password = add_user(&p.a, "zamkov.z", "Замков Зиновий", "student");
    for _ in 0..5 {
        let r = sign_in_at(&p.a, &guesser, "zamkov.z", "wrong-password-1").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = Instant::now();
    let owner = p.client();
    let r = sign_in_at(&p.b, &owner, "zamkov.z", &password).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "locked at B at once");
    tokio::time::sleep(Duration::from_secs(50).saturating_sub(locked.elapsed())).await;
    let r = sign_in_at(&p.b, &owner, "zamkov.z", &password).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "still locked at B 50 s in");
    tokio::time::sleep(Duration::from_secs(63).saturating_sub(locked.elapsed())).await;
    let r = sign_in_at(&p.b, &owner, "zamkov.z", &password).await;
    assert_eq!(location(&r), "/account/password", "unlocked at B once the minute is over");
    p.db.finish().await;
}

#[tokio::test]
async fn a_node_three_minutes_ahead_decides_as_the_others() {
    skewed_node_decides_as_the_others("+3m", 180).await;
}

#[tokio::test]
async fn a_node_three_minutes_behind_decides_as_the_others() {
    skewed_node_decides_as_the_others("-3m", -180).await;
}
