//! Tokens of the chain's identity provider, verified with the keys of its JWKS URL: chosen by
//! `kid`, several at once, ES256 and RS256, `iss`/`aud` enforced, a rotation picked up without
//! a restart, an algorithm never chosen by the token, a flood of unknown key ids costing the
//! provider one fetch, and known keys kept while the provider is down.
//!
//! The keys under `tests/fixtures/jwks` were generated for this test only.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use maitre_kit::auth::{Role, Verifier};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

const ISSUER: &str = "https://login.example-chain.cn";
const AUDIENCE: &str = "maitre";

/// A stand-in identity provider serving `/.well-known/jwks.json` from `published`.
struct Provider {
    url: String,
    published: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

fn public_jwk(kid: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("fixtures/jwks/public.json")).expect("fixture JWKs");
    all[kid].clone()
}

async fn provider(kids: &[&str]) -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let published = Arc::new(Mutex::new(
        json!({"keys": kids.iter().map(|k| public_jwk(k)).collect::<Vec<_>>()}),
    ));
    let fetches = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (set, count, is_down) = (published.clone(), fetches.clone(), down.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            count.fetch_add(1, Ordering::SeqCst);
            let response = if is_down.load(Ordering::SeqCst) {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_owned()
            } else {
                let body = set.lock().unwrap().to_string();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    Provider {
        url,
        published,
        fetches,
        down,
    }
}

fn sign(kid: &str, algorithm: Algorithm, claims: &Value) -> String {
    let pem = std::fs::read(format!(
        "{}/tests/fixtures/jwks/{kid}.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn claims(iss: &str, aud: &str) -> Value {
    let exp = chrono::Utc::now().timestamp() + 600;
    json!({"sub": "mgr-7", "chain": "chain-a", "role": "customer_manager",
           "stores": ["s1"], "exp": exp, "iss": iss, "aud": aud})
}

#[tokio::test]
async fn provider_tokens_verify_by_kid_with_issuer_and_audience() {
    let idp = provider(&["es-1", "rs-1"]).await;
    let verifier = Verifier::jwks(&idp.url, Some(ISSUER), Some(AUDIENCE));

    let token = sign("es-1", Algorithm::ES256, &claims(ISSUER, AUDIENCE));
    let caller = verifier
        .verify_fresh(&token)
        .await
        .expect("ES256 token of the provider");
    assert_eq!(
        (
            caller.chain_id.as_str(),
            caller.staff_id.as_str(),
            caller.role
        ),
        ("chain-a", "mgr-7", Role::CustomerManager)
    );
    let rsa = sign("rs-1", Algorithm::RS256, &claims(ISSUER, AUDIENCE));
    assert!(
        verifier.verify_fresh(&rsa).await.is_ok(),
        "RS256 key of the same set"
    );

    for (what, token) in [
        (
            "another issuer",
            sign(
                "es-1",
                Algorithm::ES256,
                &claims("https://evil.example", AUDIENCE),
            ),
        ),
        (
            "another audience",
            sign("es-1", Algorithm::ES256, &claims(ISSUER, "someone-else")),
        ),
    ] {
        let refused = verifier.verify_fresh(&token).await.expect_err(what);
        assert_eq!(refused.code(), Code::Unauthenticated, "{what}: {refused:?}");
    }
    let mut no_audience = claims(ISSUER, AUDIENCE);
    no_audience.as_object_mut().unwrap().remove("aud");
    let refused = verifier
        .verify_fresh(&sign("es-1", Algorithm::ES256, &no_audience))
        .await
        .expect_err("aud is required when configured");
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_a_restart() {
    let idp = provider(&["es-1"]).await;
    let verifier = Verifier::jwks(&idp.url, Some(ISSUER), Some(AUDIENCE));
    let old = sign("es-1", Algorithm::ES256, &claims(ISSUER, AUDIENCE));
    verifier.verify_fresh(&old).await.expect("the first key");

    // The provider publishes a second key and starts signing with it.
    *idp.published.lock().unwrap() = json!({"keys": [public_jwk("es-1"), public_jwk("es-2")]});
    // Wait out the refetch floor, as a real rotation (hours apart) would.
    tokio::time::sleep(maitre_kit::auth::jwks::MIN_REFRESH).await;
    let new = sign("es-2", Algorithm::ES256, &claims(ISSUER, AUDIENCE));
    // The synchronous check (services) answers "retry" rather than "invalid" …
    let status = verifier.verify(&new).expect_err("unknown until fetched");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // … and the edge's check waits for the set and passes.
    verifier.verify_fresh(&new).await.expect("the rotated key");
    verifier
        .verify_fresh(&old)
        .await
        .expect("the old key while it is published");
    assert!(
        verifier.verify(&new).is_ok(),
        "now known to the synchronous check too"
    );
}

#[tokio::test]
async fn the_token_never_chooses_the_algorithm() {
    let idp = provider(&["es-1", "rs-1"]).await;
    let verifier = Verifier::jwks(&idp.url, None, None);
    verifier
        .verify_fresh(&sign("es-1", Algorithm::ES256, &claims(ISSUER, AUDIENCE)))
        .await
        .expect("load the set");
    // Signed with the RSA key but naming the EC key id: the EC key's algorithm is ES256.
    let confused = sign("rs-1", Algorithm::RS256, &claims(ISSUER, AUDIENCE));
    let mut parts: Vec<String> = confused.split('.').map(str::to_owned).collect();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    parts[0] = engine.encode(json!({"alg": "RS256", "typ": "JWT", "kid": "es-1"}).to_string());
    let refused = verifier
        .verify_fresh(&parts.join("."))
        .await
        .expect_err("alg of the header does not match the key's");
    assert_eq!(refused.code(), Code::Unauthenticated);
    // A symmetric token naming a provider key id is not checked against a shared secret.
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some("es-1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(ISSUER, AUDIENCE),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    assert_eq!(
        verifier.verify_fresh(&hs).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn made_up_key_ids_cost_the_provider_one_fetch_and_an_outage_keeps_known_keys() {
    let idp = provider(&["es-1"]).await;
    let verifier = Verifier::jwks(&idp.url, None, None);
    let good = sign("es-1", Algorithm::ES256, &claims(ISSUER, AUDIENCE));
    verifier.verify_fresh(&good).await.expect("load the set");
    let before = idp.fetches.load(Ordering::SeqCst);
    for i in 0..50 {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(format!("made-up-{i}"));
        let pem = std::fs::read(format!(
            "{}/tests/fixtures/jwks/es-2.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let token = jsonwebtoken::encode(
            &header,
            &claims(ISSUER, AUDIENCE),
            &EncodingKey::from_ec_pem(&pem).unwrap(),
        )
        .unwrap();
        let refused = verifier
            .verify_fresh(&token)
            .await
            .expect_err("unknown key");
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    let extra = idp.fetches.load(Ordering::SeqCst) - before;
    assert!(extra <= 1, "{extra} fetches for 50 unknown key ids");

    // The provider goes down and a fetch fails: tokens of the keys already known still pass.
    idp.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(maitre_kit::auth::jwks::MIN_REFRESH).await;
    let during = idp.fetches.load(Ordering::SeqCst);
    let unknown = sign("es-2", Algorithm::ES256, &claims(ISSUER, AUDIENCE));
    assert!(verifier.verify_fresh(&unknown).await.is_err());
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        during + 1,
        "the failed fetch happened"
    );
    verifier
        .verify_fresh(&good)
        .await
        .expect("known key during the outage");
}
