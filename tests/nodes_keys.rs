//! A key rotation seen by every node: two real nodes on one PostgreSQL database, the
//! rotation made with `propusk keys rotate` from the command line (as an operator would,
//! on either machine). The other node publishes the new key within seconds; ID tokens
//! signed by either node verify with the JWKS of either node before the new key signs,
//! while it starts signing and after; and no node hands out a token signed with a key
//! that the other node does not publish yet, even with `--now`.

mod common;
#[path = "common/nodes.rs"]
mod nodes;
#[path = "common/store_db.rs"]
mod store_db;

use std::time::{Duration, Instant};

use common::{Server, add_user, location};
use jsonwebtoken::jwk::JwkSet;
use nodes::{Pair, Rp, change_password_at, code_at, pair, redeem_at, sign_in_at};

const REDIRECT: &str = "https://portal.college.example/cb";

async fn jwks_of(p: &Pair, node: &Server) -> JwkSet {
    p.client().get(node.url("/jwks")).send().await.expect("jwks").json().await.expect("a JWKS")
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).expect("a JWS header").kid.expect("a kid")
}

/// Checks the ID token's signature with a JWKS; the kid must be published there.
fn verify(token: &str, jwks: &JwkSet) -> Result<serde_json::Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or_else(|| format!("{kid} is not published"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["portal"]);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v).map(|d| d.claims).map_err(|e| e.to_string())
}

/// An ID token signed by `node`: a code from the other node, redeemed at `node`.
async fn id_token_from(p: &Pair, c: &reqwest::Client, rp: &Rp<'_>, node: &Server) -> String {
    let other = if std::ptr::eq(node, &p.a) { &p.b } else { &p.a };
    let code = code_at(other, c, rp).await;
    let (status, body) = redeem_at(node, c, rp, &code).await;
    assert_eq!(status, 200, "{body}");
    body["id_token"].as_str().expect("an ID token").to_owned()
}

/// The new key ids `keys rotate` printed.
fn rotated(node: &Server, args: &[&str]) -> Vec<String> {
    let out = node.cli(args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    let line = text.lines().find_map(|l| l.strip_prefix("New signing keys: ")).expect(&text).to_owned();
    line.split(", ").map(str::to_owned).collect()
}

/// Waits (at most 15 s, never hanging) until `node` publishes `kid`.
async fn published_by(p: &Pair, node: &Server, kid: &str) -> Duration {
    let start = Instant::now();
    while jwks_of(p, node).await.find(kid).is_none() {
        assert!(start.elapsed() < Duration::from_secs(15), "{} did not publish {kid}", node.base);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn a_rotation_on_one_node_is_published_by_all_before_any_node_signs_with_it() {
    let p = pair().await;
    let c = p.client();
    let issued = add_user(&p.a, "klyuchnikov.k", "Ключников Кирилл", "student");
    assert_eq!(location(&sign_in_at(&p.a, &c, "klyuchnikov.k", &issued).await), "/account/password");
    change_password_at(&p.b, &c, &issued).await;
    let secret = p.add_client("portal", REDIRECT);
    let rp = Rp { id: "portal", secret: &secret, redirect_uri: REDIRECT };

    // Before any rotation: both nodes sign with one key, both publish it.
    let from_a = id_token_from(&p, &c, &rp, &p.a).await;
    let from_b = id_token_from(&p, &c, &rp, &p.b).await;
    let first = kid_of(&from_a);
    assert_eq!(kid_of(&from_b), first);
    for node in [&p.a, &p.b] {
        let jwks = jwks_of(&p, node).await;
        for t in [&from_a, &from_b] {
            verify(t, &jwks).unwrap_or_else(|e| panic!("{}: {e}", node.base));
        }
    }

    // `keys rotate` on A's machine (a command of its own, beside A's server): the new
    // keys are published by both servers within seconds (each re-reads the keys on its
    // own schedule), and neither signs with them before their time (an hour ahead).
    let ahead = rotated(&p.a, &["keys", "rotate"]);
    let ahead_rs = ahead.iter().find(|k| k.starts_with("rs256")).expect("an RS256 key").clone();
    for (name, node) in [("A", &p.a), ("B", &p.b)] {
        let waited = published_by(&p, node, &ahead_rs).await;
        eprintln!("node {name} published the key rotated on A's machine after {} ms", waited.as_millis());
    }
    for node in [&p.a, &p.b] {
        let t = id_token_from(&p, &c, &rp, node).await;
        assert_eq!(kid_of(&t), first, "the old key signs until the new one's time");
        for other in [&p.a, &p.b] {
            verify(&t, &jwks_of(&p, other).await).unwrap_or_else(|e| panic!("{}: {e}", other.base));
        }
    }

    // `keys rotate --now` on B's machine (a key may have leaked): the new key signs as
    // soon as every node publishes it. Every token either node hands out meanwhile is
    // signed with a key the other node already publishes, and both move to the new key.
    let now = rotated(&p.b, &["keys", "rotate", "--now"]);
    let now_rs = now.iter().find(|k| k.starts_with("rs256")).expect("an RS256 key").clone();
    let start = Instant::now();
    let mut moved = [None, None];
    while moved.iter().any(Option::is_none) {
        assert!(start.elapsed() < Duration::from_secs(30), "the nodes did not move to the new key: {moved:?}");
        for (i, node) in [&p.a, &p.b].into_iter().enumerate() {
            let t = id_token_from(&p, &c, &rp, node).await;
            let kid = kid_of(&t);
            assert!(kid == first || kid == now_rs, "signed with {kid}");
            for other in [&p.a, &p.b] {
                // Fetched after the token was in the client's hands.
                verify(&t, &jwks_of(&p, other).await).unwrap_or_else(|e| panic!("{}: {e}", other.base));
            }
            if kid == now_rs && moved[i].is_none() {
                moved[i] = Some(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("after `keys rotate --now`, A signed with the new key after {:?} and B after {:?}", moved[0], moved[1]);
    // The key signing an hour from now and the replaced one stay published everywhere.
    for node in [&p.a, &p.b] {
        let jwks = jwks_of(&p, node).await;
        for kid in [&first, &ahead_rs, &now_rs] {
            assert!(jwks.find(kid).is_some(), "{} publishes {kid}", node.base);
        }
        verify(&from_a, &jwks).expect("a token of the replaced key still verifies");
    }
    p.db.finish().await;
}
