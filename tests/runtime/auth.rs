//! Auth over real sockets: JWT bearer tokens checked against a real JWKS endpoint on
//! 127.0.0.1 (keys made here), API keys, scopes, session binding, and the protected-resource
//! metadata of nested mounts.

use crate::fixtures::{Counter, was_cancelled};
use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use mcp_runtime::auth::{ApiKeyAuth, JwtVerifier};
use mcp_runtime::{McpRouterExt as _, McpServer, Transport, auth::Principal};
use mcp_tests::{SseReader, serve};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ISS: &str = "https://auth.example.test/";
const AUD: &str = "https://api.example.test/mcp/slack";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An EC P-256 key pair: a signing key for tokens, and its public JWK.
struct Key {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    public_pem: String,
}

impl Key {
    fn new(kid: &str) -> Self {
        let signing = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let der = signing.to_pkcs8_der().unwrap();
        let point = signing.verifying_key().to_encoded_point(false);
        let public_pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(
            signing.verifying_key(),
            Default::default(),
        )
        .unwrap();
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())}),
            public_pem,
        }
    }

    fn token(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding).unwrap()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(scope: &str) -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "user-1", "exp": now() + 600, "iat": now(), "scope": scope})
}

/// A JWKS endpoint on 127.0.0.1 that can change its keys, go down, and turn slow (3 s per
/// answer, its keys read at the end).
#[derive(Clone)]
struct Jwks {
    keys: Arc<Mutex<Vec<Value>>>,
    up: Arc<AtomicBool>,
    slow: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
    url: String,
}

/// How long a slow [`Jwks`] takes to answer.
const SLOW_JWKS: Duration = Duration::from_secs(3);

async fn jwks(keys: Vec<Value>) -> Jwks {
    let keys = Arc::new(Mutex::new(keys));
    let up = Arc::new(AtomicBool::new(true));
    let slow = Arc::new(AtomicBool::new(false));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, u, s, f) = (keys.clone(), up.clone(), slow.clone(), fetches.clone());
    let app = Router::new().route(
        "/jwks",
        get(move || {
            let (k, u, s, f) = (k.clone(), u.clone(), s.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                if s.load(Ordering::SeqCst) {
                    tokio::time::sleep(SLOW_JWKS).await;
                }
                if !u.load(Ordering::SeqCst) {
                    return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                }
                let body = json!({"keys": *k.lock().unwrap()}).to_string();
                Ok((
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                ))
            }
        }),
    );
    let addr = serve(app).await;
    Jwks {
        keys,
        up,
        slow,
        fetches,
        url: format!("http://{addr}/jwks"),
    }
}

fn verifier(jwks: &Jwks) -> JwtVerifier {
    JwtVerifier::new(jwks.url.clone(), ISS, AUD)
        .leeway(Duration::from_secs(5))
        .min_refetch_interval(Duration::from_millis(300))
        .scopes_supported(["fx:read", "fx:write"])
}

/// The app: `/mcp/slack` by JWT, `/mcp/crm` by API key, `/mcp` open, and a JWT server nested
/// deeper at `/api/v2/mcp/tools`.
async fn app(jwt: JwtVerifier) -> SocketAddr {
    let server = |name: &str| McpServer::new(name).domain("fx").state(Counter::default());
    let keys = ApiKeyAuth::keys([
        (
            "key-alice",
            Principal {
                subject: "alice".into(),
                scopes: vec!["fx".into()],
                ..Principal::default()
            },
        ),
        (
            "key-bob",
            Principal {
                subject: "bob".into(),
                ..Principal::default()
            },
        ),
    ]);
    let app = Router::new()
        .nest_mcp("/mcp", server("Open").http_app(Transport::StreamableHttp))
        .nest_mcp(
            "/mcp/crm",
            server("CRM").auth(keys).http_app(Transport::StreamableHttp),
        )
        .nest_mcp(
            "/mcp/slack",
            server("Slack")
                .auth(jwt.clone())
                .http_app(Transport::StreamableHttp),
        )
        .nest_mcp(
            "/api/v2/mcp/tools",
            server("Deep").auth(jwt).http_app(Transport::Http),
        );
    serve(app).await
}

async fn post(url: &str, headers: &[(&str, &str)], body: Value) -> reqwest::Response {
    let mut req = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.json(&body).send().await.unwrap()
}

fn call(tool: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}})
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn text_of(res: reqwest::Response) -> String {
    let v: Value = res.json().await.unwrap();
    v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn valid_tokens_reach_the_tool_with_their_principal() {
    let a = Key::new("a");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks)).await;
    let url = format!("http://{addr}/mcp/slack");
    let token = a.token(&claims("fx:read fx:write"));
    let res = post(
        &url,
        &[("authorization", &bearer(&token))],
        call("principal_info", json!({})),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(text_of(res).await, "subject=user-1 scopes=fx:read,fx:write");
    // The open mount needs nothing.
    let res = post(
        &format!("http://{addr}/mcp"),
        &[],
        call("principal_info", json!({})),
    )
    .await;
    assert_eq!(text_of(res).await, "anonymous");
}

#[tokio::test]
async fn missing_and_bad_tokens_get_401_with_the_metadata_url() {
    let a = Key::new("a");
    let other = Key::new("a"); // same kid, different key: a wrong signature
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks)).await;
    let url = format!("http://{addr}/mcp/slack");
    let metadata = format!("http://{addr}/.well-known/oauth-protected-resource/mcp/slack");

    let res = post(
        &url,
        &[],
        call("scoped_write", json!({"tag": "unauthenticated"})),
    )
    .await;
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
        "{challenge}"
    );
    assert!(
        !challenge.contains("invalid_token"),
        "no token, no invalid_token: {challenge}"
    );
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("missing bearer token")
    );

    let hs256_with_public_key = encode(
        &Header::new(Algorithm::HS256),
        &claims("fx:write"),
        &EncodingKey::from_secret(a.public_pem.as_bytes()),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims("fx:write").to_string().as_bytes())
    );
    let mut expired = claims("");
    expired["exp"] = json!(now() - 3600);
    let mut early = claims("");
    early["nbf"] = json!(now() + 3600);
    let mut wrong_iss = claims("");
    wrong_iss["iss"] = json!("https://evil.example/");
    let mut wrong_aud = claims("");
    wrong_aud["aud"] = json!("https://api.example.test/mcp/crm");
    let cases = [
        ("expired", a.token(&expired), "expired"),
        ("not yet valid", a.token(&early), "not valid yet"),
        ("wrong issuer", a.token(&wrong_iss), "issuer"),
        ("wrong audience", a.token(&wrong_aud), "audience"),
        (
            "wrong signature",
            other.token(&claims("fx:write")),
            "signature",
        ),
        ("alg none", alg_none, "malformed"),
        ("HS256 with the public key", hs256_with_public_key, "HS256"),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
        (
            "empty subject",
            a.token(&json!({"iss": ISS, "aud": AUD, "sub": "", "exp": now() + 600})),
            "subject (`sub`) is empty",
        ),
        (
            "no subject",
            a.token(&json!({"iss": ISS, "aud": AUD, "exp": now() + 600})),
            "subject (`sub`) is empty",
        ),
        (
            "a subject that is not a string",
            a.token(&json!({"iss": ISS, "aud": AUD, "sub": 7, "exp": now() + 600})),
            "subject (`sub`) is empty",
        ),
    ];
    for (case, token, says) in cases {
        let res = post(
            &url,
            &[("authorization", &bearer(&token))],
            call("scoped_write", json!({"tag": case})),
        )
        .await;
        assert_eq!(res.status(), 401, "{case}");
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{case}: {challenge}"
        );
        assert!(challenge.contains("resource_metadata="), "{case}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{case}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{case}: {description}");
        assert!(
            !description.contains(&token),
            "{case}: tokens are never echoed"
        );
        assert!(
            !was_cancelled(&format!("wrote:{case}")),
            "{case}: the tool body did not run"
        );
    }
}

#[tokio::test]
async fn unknown_kid_refetches_once_for_key_rotation() {
    let a = Key::new("a");
    let b = Key::new("b");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks).min_refetch_interval(Duration::from_secs(1))).await;
    let url = format!("http://{addr}/mcp/slack");
    let ok = |token: String| {
        let url = url.clone();
        async move {
            post(
                &url,
                &[("authorization", &bearer(&token))],
                call("echo", json!({"text": "x"})),
            )
            .await
            .status()
            .as_u16()
        }
    };
    assert_eq!(ok(a.token(&claims(""))).await, 200);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);
    // The issuer rotates to key b: the first token with kid b triggers one refetch.
    jwks.keys.lock().unwrap().push(b.jwk.clone());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ok(b.token(&claims(""))).await, 200);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
    // Unknown kids in a burst cause at most one fetch per interval (1 s here).
    let c = Key::new("c");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(ok(c.token(&claims(""))).await, 401);
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 3);
}

/// A token naming an unknown key by a long `kid`, with characters a header cannot hold: the
/// refusal quotes it cut short, and keeps its challenge (the resource metadata's address).
#[tokio::test]
async fn a_strange_kid_is_quoted_cut_short_and_the_challenge_stays() {
    let odd = Key::new(&format!("\u{e9}\u{7}{}", "k".repeat(300)));
    let jwks = jwks(vec![Key::new("a").jwk.clone()]).await;
    let addr = app(verifier(&jwks)).await;
    let res = post(
        &format!("http://{addr}/mcp/slack"),
        &[("authorization", &bearer(&odd.token(&claims(""))))],
        call("echo", json!({"text": "x"})),
    )
    .await;
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("resource_metadata=") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    let body: Value = res.json().await.unwrap();
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("bytes)") && !description.contains(&"k".repeat(100)),
        "{description}"
    );
}

/// Stale keys are refreshed in the background: while the JWKS is slow, requests with a known
/// `kid` are answered at once with the cached keys, one refresh runs at a time, and its keys
/// serve once it ends.
#[tokio::test]
async fn stale_keys_are_refreshed_in_the_background_while_the_jwks_is_slow() {
    use std::time::Instant;
    let a = Key::new("a");
    let b = Key::new("b");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks).max_key_age(Duration::from_secs(2))).await;
    let url = format!("http://{addr}/mcp/slack");
    let answered = |token: String| {
        let url = url.clone();
        async move {
            let started = Instant::now();
            let status = post(
                &url,
                &[("authorization", &bearer(&token))],
                call("echo", json!({"text": "x"})),
            )
            .await
            .status();
            (status, started.elapsed())
        }
    };
    let (status, _) = answered(a.token(&claims(""))).await;
    assert_eq!(status, 200);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    jwks.slow.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The keys are stale now; their refresh will take 3 s, and name key b too.
    jwks.keys.lock().unwrap().push(b.jwk.clone());
    for _ in 0..5 {
        let (status, took) = answered(a.token(&claims(""))).await;
        assert_eq!(status, 200);
        assert!(
            took < Duration::from_secs(1),
            "a known kid waited {took:?} for the JWKS"
        );
    }
    let refreshing = Instant::now();
    while jwks.fetches.load(Ordering::SeqCst) < 2 {
        assert!(refreshing.elapsed() < Duration::from_secs(2), "no refresh");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        jwks.fetches.load(Ordering::SeqCst),
        2,
        "one refresh at a time"
    );

    // Once the refresh is in, its keys serve: kid b is known without another fetch.
    tokio::time::sleep(SLOW_JWKS + Duration::from_millis(300)).await;
    let (status, took) = answered(b.token(&claims(""))).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "kid b waited {took:?}");
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn jwks_down_keeps_cached_keys_and_a_cold_start_fails_closed() {
    let a = Key::new("a");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks).max_key_age(Duration::from_millis(1))).await;
    let url = format!("http://{addr}/mcp/slack");
    let token = a.token(&claims(""));
    assert_eq!(
        post(
            &url,
            &[("authorization", &bearer(&token))],
            call("echo", json!({"text": "x"}))
        )
        .await
        .status(),
        200
    );
    jwks.up.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let res = post(
        &url,
        &[("authorization", &bearer(&token))],
        call("echo", json!({"text": "x"})),
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "cached keys keep working while the JWKS is down"
    );

    // A fresh server that never got the keys refuses: 503, never open.
    let cold = app(verifier(&jwks)).await;
    let res = post(
        &format!("http://{cold}/mcp/slack"),
        &[("authorization", &bearer(&token))],
        call("scoped_write", json!({"tag": "cold"})),
    )
    .await;
    assert_eq!(res.status(), 503);
    assert!(!was_cancelled("wrote:cold"));
}

#[tokio::test]
async fn scopes_are_enforced_and_lists_show_only_callable_tools() {
    let a = Key::new("a");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks)).await;
    let url = format!("http://{addr}/mcp/slack");
    let reader = a.token(&claims("fx:read"));
    let res = post(
        &url,
        &[("authorization", &bearer(&reader))],
        call("scoped_write", json!({"tag": "reader"})),
    )
    .await;
    assert_eq!(res.status(), 403);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"fx:write\""), "{challenge}");
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scoped_write")
    );
    assert!(
        !was_cancelled("wrote:reader"),
        "no tool body runs for an unauthorized call"
    );

    let list = |token: String| {
        let url = url.clone();
        async move {
            let v: Value = post(
                &url,
                &[("authorization", &bearer(&token))],
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
            )
            .await
            .json()
            .await
            .unwrap();
            v["result"]["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let as_reader = list(reader).await;
    assert!(!as_reader.contains(&"scoped_write".to_owned()));
    assert!(!as_reader.contains(&"configured.tool-1".to_owned()));
    assert!(as_reader.contains(&"echo".to_owned()));
    let as_writer = list(a.token(&claims("fx:write"))).await;
    assert!(as_writer.contains(&"scoped_write".to_owned()));
    // A parent scope covers its children.
    let res = post(
        &url,
        &[("authorization", &bearer(&a.token(&claims("fx"))))],
        call("scoped_write", json!({"tag": "parent"})),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(was_cancelled("wrote:parent"));
}

#[tokio::test]
async fn sessions_are_bound_to_their_principal() {
    let addr = app(JwtVerifier::new("http://127.0.0.1:9/unused", ISS, AUD)).await;
    let url = format!("http://{addr}/mcp/crm");
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    // No session is created for an unauthenticated initialize.
    let res = post(&url, &[], init.clone()).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("mcp-session-id").is_none());
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "missing API key: send it in the `x-api-key` header"
    );
    assert!(res_is_json_401_without_bearer(&url).await);
    // A key that is not readable text is an invalid key, not a missing one.
    let res = mcp_tests::http()
        .post(&url)
        .header("content-type", "application/json")
        .header(
            "x-api-key",
            reqwest::header::HeaderValue::from_bytes(b"key-\xe9\xe9").unwrap(),
        )
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "invalid API key: the `x-api-key` header is not readable: header values must be visible ASCII"
    );

    let res = post(&url, &[("x-api-key", "key-alice")], init).await;
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let ok = post(
        &url,
        &[("x-api-key", "key-alice"), ("mcp-session-id", &sid)],
        call("principal_info", json!({})),
    )
    .await;
    assert_eq!(text_of(ok).await, "subject=alice scopes=fx");
    // Bob's valid key with Alice's session: refused as unknown.
    let res = post(
        &url,
        &[("x-api-key", "key-bob"), ("mcp-session-id", &sid)],
        call("principal_info", json!({})),
    )
    .await;
    assert_eq!(res.status(), 404);
    let res = mcp_tests::http()
        .delete(&url)
        .header("x-api-key", "key-bob")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "nor can Bob end it");
    let res = mcp_tests::http()
        .get(&url)
        .header("x-api-key", "key-bob")
        .header("mcp-session-id", &sid)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = post(
        &url,
        &[("x-api-key", "wrong"), ("mcp-session-id", &sid)],
        call("principal_info", json!({})),
    )
    .await;
    assert_eq!(res.status(), 401);
    // Bob lacks `fx:write`, Alice holds `fx`.
    let res = post(
        &url,
        &[("x-api-key", "key-bob")],
        call("scoped_write", json!({"tag": "bob"})),
    )
    .await;
    assert_eq!(res.status(), 403);
}

async fn res_is_json_401_without_bearer(url: &str) -> bool {
    let res = post(
        url,
        &[("x-api-key", "wrong")],
        call("echo", json!({"text": "x"})),
    )
    .await;
    res.status() == 401 && res.headers().get("www-authenticate").is_none()
}

#[tokio::test]
async fn every_transport_and_endpoint_is_protected() {
    let a = Key::new("a");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks)).await;
    let client = mcp_tests::http();
    // The GET stream and the legacy SSE endpoints.
    let res = client
        .get(format!("http://{addr}/mcp/slack"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .get(format!("http://{addr}/mcp/slack/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .post(format!("http://{addr}/mcp/slack/messages?sessionId=x"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The 2026-07-28 era.
    let res = post(&format!("http://{addr}/mcp/slack"), &[("mcp-protocol-version", "2026-07-28"), ("mcp-method", "server/discover")],
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}})).await;
    assert_eq!(res.status(), 401);
    // The request-response transport.
    let res = post(
        &format!("http://{addr}/api/v2/mcp/tools"),
        &[],
        call("echo", json!({"text": "x"})),
    )
    .await;
    assert_eq!(res.status(), 401);

    // With a token, the legacy transport works, and its scope refusals are 403 on the POST.
    let token = a.token(&claims("fx:read"));
    let res = client
        .get(format!("http://{addr}/mcp/slack/sse"))
        .header("accept", "text/event-stream")
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut events = SseReader::new(res);
    let endpoint = events.next().await.unwrap().data;
    let res = client
        .post(format!("http://{addr}{endpoint}"))
        .header("content-type", "application/json")
        .header("authorization", bearer(&token))
        .json(&call("scoped_write", json!({"tag": "legacy"})))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let other = a.token(&json!({"iss": ISS, "aud": AUD, "sub": "user-2", "exp": now() + 600}));
    let res = client
        .post(format!("http://{addr}{endpoint}"))
        .header("content-type", "application/json")
        .header("authorization", bearer(&other))
        .json(&call("echo", json!({"text": "x"})))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "another principal cannot post into this stream"
    );
}

#[tokio::test]
async fn protected_resource_metadata_for_nested_mounts() {
    let a = Key::new("a");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let addr = app(verifier(&jwks).authorization_server("https://login.example.test/")).await;
    let client = mcp_tests::http();

    // A client follows the 401's resource_metadata and finds the document on the first try.
    let res = post(
        &format!("http://{addr}/mcp/slack"),
        &[],
        call("echo", json!({"text": "x"})),
    )
    .await;
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = client.get(&metadata_url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["resource"], format!("http://{addr}/mcp/slack"));
    assert_eq!(
        doc["authorization_servers"],
        json!(["https://login.example.test/"])
    );
    assert_eq!(doc["scopes_supported"], json!(["fx:read", "fx:write"]));
    assert_eq!(
        metadata_url,
        format!("http://{addr}/.well-known/oauth-protected-resource/mcp/slack")
    );

    let doc: Value = client
        .get(format!(
            "http://{addr}/.well-known/oauth-protected-resource/api/v2/mcp/tools"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], format!("http://{addr}/api/v2/mcp/tools"));
    // Forwarded headers are not trusted by default (see
    // `forwarded_headers_name_the_resource_only_when_trusted`).
    let doc: Value = client
        .get(format!(
            "http://{addr}/.well-known/oauth-protected-resource/mcp/slack"
        ))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.example.test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], format!("http://{addr}/mcp/slack"));
    // Mounts without bearer tokens have no metadata.
    for path in ["/mcp/crm", "/mcp"] {
        let res = client
            .get(format!(
                "http://{addr}/.well-known/oauth-protected-resource{path}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }

    // A mount inside an app the user nests itself: the resource is the full path.
    let outer = Router::new().nest(
        "/outer",
        Router::new().nest_mcp(
            "/mcp",
            McpServer::new("Nested")
                .domain("fx")
                .state(Counter::default())
                .auth(verifier(&jwks))
                .http_app(Transport::StreamableHttp),
        ),
    );
    let addr = serve(outer).await;
    let res = post(
        &format!("http://{addr}/outer/mcp/"),
        &[],
        call("echo", json!({"text": "x"})),
    )
    .await;
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("/.well-known/oauth-protected-resource/outer/mcp\""),
        "{challenge}"
    );
}

/// `X-Forwarded-Host`/`X-Forwarded-Proto` from a client do not name the resource in the 401 and
/// 403 challenges or the metadata document, unless the app says its proxy sets them.
#[tokio::test]
async fn forwarded_headers_name_the_resource_only_when_trusted() {
    let a = Key::new("a");
    let jwks = jwks(vec![a.jwk.clone()]).await;
    let spoofed = [
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-proto", "https"),
    ];
    let read_only = bearer(&a.token(&claims("fx:read")));
    let challenges_and_resource = |addr: SocketAddr| {
        let read_only = read_only.clone();
        async move {
            let url = format!("http://{addr}/mcp/slack");
            let mut challenges = Vec::new();
            for auth in [None, Some("Bearer not.a.jwt"), Some(read_only.as_str())] {
                let mut headers = spoofed.to_vec();
                headers.extend(auth.map(|a| ("authorization", a)));
                let res = post(&url, &headers, call("scoped_write", json!({"tag": "fwd"}))).await;
                assert!([401, 403].contains(&res.status().as_u16()), "{auth:?}");
                let challenge = res.headers()["www-authenticate"].to_str().unwrap();
                challenges.push(challenge.to_owned());
            }
            let mut req = mcp_tests::http().get(format!(
                "http://{addr}/.well-known/oauth-protected-resource/mcp/slack"
            ));
            for (name, value) in spoofed {
                req = req.header(name, value);
            }
            let doc: Value = req.send().await.unwrap().json().await.unwrap();
            (challenges, doc)
        }
    };

    let addr = app(verifier(&jwks)).await;
    let (challenges, doc) = challenges_and_resource(addr).await;
    let metadata = format!("http://{addr}/.well-known/oauth-protected-resource/mcp/slack");
    for challenge in challenges {
        assert!(!challenge.contains("evil.example"), "{challenge}");
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
            "{challenge}"
        );
    }
    assert_eq!(doc["resource"], format!("http://{addr}/mcp/slack"));
    assert!(!doc.to_string().contains("evil.example"), "{doc}");

    // Behind a proxy that sets them, the forwarded scheme and host are the resource's.
    let addr = app(verifier(&jwks).trust_forwarded_headers(true)).await;
    let (challenges, doc) = challenges_and_resource(addr).await;
    let metadata = "https://evil.example/.well-known/oauth-protected-resource/mcp/slack";
    for challenge in challenges {
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
            "{challenge}"
        );
    }
    assert_eq!(doc["resource"], "https://evil.example/mcp/slack");
    assert!(!was_cancelled("wrote:fwd"), "the tool did not run");
}

#[tokio::test]
async fn a_static_public_key() {
    let a = Key::new("a");
    let v = JwtVerifier::with_public_key_pem(
        a.public_pem.as_bytes(),
        mcp_runtime::auth::JwtAlgorithm::ES256,
        ISS,
        AUD,
    )
    .unwrap();
    let p = v.verify(&a.token(&claims("x y"))).await.unwrap();
    assert_eq!(
        (p.subject.as_str(), p.scopes.clone()),
        ("user-1", vec!["x".to_owned(), "y".to_owned()])
    );
    assert!(v.verify(&Key::new("b").token(&claims(""))).await.is_err());
}

/// A JWKS past 1 MiB is not read whole: the keys are unavailable (503, as when the issuer is
/// down) until the issuer serves a JWKS of a sane size.
#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let a = Key::new("a");
    let mut padded = a.jwk.clone();
    padded["padding"] = json!("x".repeat(1024 * 1024));
    let jwks = jwks(vec![padded]).await;
    let addr = app(verifier(&jwks)).await;
    let url = format!("http://{addr}/mcp/slack");
    let token = a.token(&claims("fx:read"));
    let credentials = bearer(&token);
    let headers = [("authorization", credentials.as_str())];
    let res = post(&url, &headers, call("principal_info", json!({}))).await;
    assert_eq!(res.status(), 503);
    // The same key without the padding: read, and the token passes.
    *jwks.keys.lock().unwrap() = vec![a.jwk.clone()];
    tokio::time::sleep(Duration::from_millis(400)).await;
    let res = post(&url, &headers, call("principal_info", json!({}))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(text_of(res).await, "subject=user-1 scopes=fx:read");
}
