//! The OAuth authorization server within `cargo test`, against an upstream provider of the
//! test's own (an axum app that logs everyone in as `bob`): one flow by hand, from registration
//! to a tool call, with the app's claim mapping reaching the tool. The TypeScript SDK's own flow,
//! every refusal, client ID metadata documents and two instances on Redis run in CI against
//! oauth2-mock-server (`conformance/oauth-client.mjs`).

use axum::Router;
use axum::routing::{get, post};
use base64::Engine as _;
use futures_util::future::BoxFuture;
use mcp_runtime::auth::{OAuthServer, Upstream};
use mcp_runtime::catalog::Tool;
use mcp_runtime::store::{GrantStore, MemoryGrantStore, StoreError};
use mcp_runtime::{McpRouterExt as _, McpServer, Transport};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::time::Duration;

const REDIRECT: &str = "http://127.0.0.1:9/callback";

async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

fn run(listener: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

/// An upstream provider: discovery, an authorization endpoint that approves at once, and a
/// token endpoint whose ID token names `bob`.
fn upstream(issuer: String) -> Router {
    let discovery = {
        let issuer = issuer.clone();
        move || async move {
            axum::Json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
            }))
        }
    };
    let token = move || {
        let issuer = issuer.clone();
        async move {
            let b64 =
                |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let id_token = format!(
                "{}.{}.sig",
                b64(json!({ "alg": "RS256" })),
                b64(
                    json!({ "iss": issuer, "aud": "app-client", "sub": "bob", "exp": now + 300,
                    "email": "bob@example.com", "team": "red" })
                )
            );
            axum::Json(
                json!({ "access_token": "upstream-token", "token_type": "Bearer", "id_token": id_token }),
            )
        }
    };
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route(
            "/authorize",
            get(
                |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    let to = format!("{}?code=up-code&state={}", q["redirect_uri"], q["state"]);
                    axum::response::Redirect::to(&to)
                },
            ),
        )
        .route("/token", post(token))
}

/// The login cookie a consent's approval sets.
fn login_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("mcp-oauth-login-"))
}

/// A public client registered at `base`, redirecting to [`REDIRECT`].
async fn register(http: &reqwest::Client, base: &str) -> reqwest::Response {
    let meta = json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" });
    register_with(http, base, &meta).await
}

/// A registration of the client `meta` describes.
async fn register_with(http: &reqwest::Client, base: &str, meta: &Value) -> reqwest::Response {
    http.post(format!("{base}/oauth/register"))
        .json(meta)
        .send()
        .await
        .unwrap()
}

/// An authorization server at `base` whose identity provider is never reached (the tests that
/// use it stop before the login).
fn offline_server(base: &str) -> OAuthServer {
    OAuthServer::new(
        base,
        [7u8; 32],
        Upstream::new("http://127.0.0.1:9", "app-client", "app-secret"),
    )
    .unwrap()
}

fn authorize_url(base: &str, params: &[(&str, &str)]) -> String {
    format!("{base}/oauth/authorize?{}", form(params))
}

fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    let decode = |t: &str| {
        let bytes = t.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    out.push(u8::from_str_radix(&t[i + 1..i + 3], 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    };
    url.split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// A grant store that keeps what it was asked to do, for the test to read: each write and each
/// new lifetime with its key and lifetime, and the bytes written.
#[derive(Debug, Clone)]
struct Recorded {
    store: std::sync::Arc<MemoryGrantStore>,
    log: std::sync::Arc<std::sync::Mutex<Vec<Op>>>,
    /// How many of the next writes of a refresh token fail (the store unavailable).
    failing_refresh_writes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// What a store was asked: `put` or `extend`, the key, the lifetime and the bytes written.
type Op = (&'static str, String, Duration, Vec<u8>);

impl Recorded {
    fn writes(&self, op: &str, prefix: &str) -> Vec<(Duration, Vec<u8>)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(o, k, _, _)| *o == op && k.starts_with(prefix))
            .map(|(_, _, ttl, bytes)| (*ttl, bytes.clone()))
            .collect()
    }
}

impl GrantStore for Recorded {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.log
            .lock()
            .unwrap()
            .push(("put", key.to_owned(), ttl, value.to_vec()));
        if key.starts_with("rt:")
            && self
                .failing_refresh_writes
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok()
        {
            return Box::pin(async { Err(StoreError::unavailable("down for the test")) });
        }
        self.store.put(key, value, ttl)
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        self.store.get(key)
    }
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        self.store.take(key)
    }
    fn extend<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.log
            .lock()
            .unwrap()
            .push(("extend", key.to_owned(), ttl, Vec::new()));
        self.store.extend(key, ttl)
    }
}

#[tokio::test]
async fn one_flow_by_hand_reaches_a_tool_with_the_mapped_claims() {
    let (up_listener, up_url) = listen().await;
    run(up_listener, upstream(up_url.clone()));
    let (listener, base) = listen().await;
    let records = Recorded {
        store: std::sync::Arc::new(MemoryGrantStore::new(1000, 1 << 20)),
        log: Default::default(),
        failing_refresh_writes: Default::default(),
    };
    let oauth = OAuthServer::new(
        &base,
        [7u8; 32],
        Upstream::new(&up_url, "app-client", "app-secret"),
    )
    .unwrap()
    .scopes_supported(["notes"])
    .store(records.clone())
    .map_claims(|c| {
        c.iter()
            .filter(|(k, _)| *k == "team")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    let server = McpServer::new("notes")
        .auth(oauth.clone())
        .add_tool(Tool::new("whoami", |ctx, _| async move {
            let p = ctx.principal().expect("a caller");
            json!({ "subject": p.subject, "claims": p.claims, "scopes": p.scopes }).to_string()
        }))
        .build()
        .unwrap();
    run(
        listener,
        Router::new()
            .nest_mcp("/mcp", server.http_app(Transport::Http))
            .merge(oauth.router()),
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let meta: Value = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], base.as_str());
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));

    let client: Value = register(&http, &base).await.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();
    let verifier = "v".repeat(43);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    // The consent page of a new authorization: the cookie it sets, and its request.
    let open_consent = || async {
        let consent = http
            .get(authorize_url(
                &base,
                &[
                    ("response_type", "code"),
                    ("client_id", client_id),
                    ("redirect_uri", REDIRECT),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                    ("state", "st"),
                    ("resource", &format!("{base}/mcp")),
                ],
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), 200);
        let cookie = consent.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let page = consent.text().await.unwrap();
        let request = page.split("name=\"request\" value=\"").nth(1).unwrap();
        (cookie, request.split('"').next().unwrap().to_owned())
    };
    // The page's approval, sent with the page's cookie (or none).
    let approve = async |cookie: Option<&str>, request: &str| {
        let req = http
            .post(format!("{base}/oauth/consent"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("request", request), ("decision", "approve")]));
        match cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        }
        .send()
        .await
        .unwrap()
    };
    let (cookie, request) = open_consent().await;
    // Without the page's cookie, the consent is refused.
    let forged = approve(None, &request).await;
    assert_eq!(
        forged.status(),
        403,
        "the consent is bound to the browser that saw the page"
    );

    // Again, with the cookie: to the upstream, back, and to the client with a code.
    let (cookie_again, request) = open_consent().await;
    assert_ne!(cookie, cookie_again);
    let mut next = approve(Some(&cookie_again), &request).await;
    // The approval sets the login cookie the upstream's answer must come back with.
    let login = login_cookie(&next).expect("a login cookie");
    let to_upstream = next.headers()["location"].to_str().unwrap().to_owned();
    let back = http.get(&to_upstream).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{base}/oauth/callback")),
        "{callback}"
    );
    // Someone else's browser, sent the approved upstream URL, comes back without the cookie.
    let elsewhere = http.get(&callback).send().await.unwrap();
    assert_eq!(
        elsewhere.status(),
        403,
        "the login is bound to the browser that approved"
    );
    // (That used the upstream state up: the same browser starts the login again.)
    let (cookie_third, request) = open_consent().await;
    next = approve(Some(&cookie_third), &request).await;
    let login = login_cookie(&next).unwrap_or(login);
    // An approval's redirects (to the upstream, back, to the client), followed to the code.
    let code_after = async |mut next: reqwest::Response, login: &str| loop {
        assert!(next.status().is_redirection(), "{}", next.status());
        let to = next.headers()["location"].to_str().unwrap().to_owned();
        if to.starts_with(REDIRECT) {
            let q = query_of(&to);
            assert_eq!(q["state"], "st");
            assert_eq!(q["iss"], base);
            break q["code"].clone();
        }
        next = if to.starts_with(&base) {
            http.get(&to).header("cookie", login).send().await.unwrap()
        } else {
            http.get(&to).send().await.unwrap()
        };
    };
    let code = code_after(next, &login).await;
    // Until its code is exchanged, the authorization's family lives about as long as the code:
    // an abandoned login leaves nothing for long. The upstream's tokens are kept nowhere.
    let families = records.writes("put", "family:");
    assert_eq!(families.len(), 1);
    assert!(
        families[0].0 <= Duration::from_secs(120),
        "{:?}",
        families[0].0
    );
    for (_, key, _, bytes) in records.log.lock().unwrap().iter() {
        assert!(
            !String::from_utf8_lossy(bytes).contains("upstream-token"),
            "{key} keeps the upstream's token"
        );
    }
    let tokens: Value = http
        .post(format!("{base}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(tokens["scope"], "notes");
    // Exchanged: the family lives as long as its refresh token (30 days by default).
    let renewed = records.writes("extend", "family:");
    assert_eq!(renewed.len(), 1);
    assert_eq!(renewed[0].0, Duration::from_secs(30 * 24 * 3600));

    let c = mcp_tests::HttpClient::new(format!("{base}/mcp"), Some("2025-06-18"))
        .header("authorization", &format!("Bearer {access}"));
    let called = c.call("whoami", json!({})).await;
    let who: Value = serde_json::from_str(mcp_tests::text(&called)).unwrap();
    assert_eq!(who["subject"], "bob");
    assert_eq!(who["scopes"], json!(["notes"]));
    assert_eq!(who["claims"]["team"], "red", "the app's mapping");
    assert!(
        who["claims"].get("email").is_none(),
        "only what the mapping keeps"
    );
    assert_eq!(who["claims"]["iss"], base.as_str());

    // Refresh requests the token endpoint refuses leave the refresh token to its holder.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let token_request = |params: Vec<(&'static str, String)>| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = http
                .post(format!("{base}/oauth/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&params))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let other: Value = register(&http, &base).await.json().await.unwrap();
    let refresh_as = |client: &str, extra: Option<(&'static str, &str)>| {
        let mut params = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.to_owned()),
            ("client_id", client.to_owned()),
        ];
        params.extend(extra.map(|(k, v)| (k, v.to_owned())));
        token_request(params)
    };
    let (status, body) = refresh_as(other["client_id"].as_str().unwrap(), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = refresh_as(client_id, Some(("scope", "notes admin"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = refresh_as(client_id, Some(("resource", "https://elsewhere/mcp"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    // A token made up from the family's id (every access token carries it) is unknown: it
    // revokes nothing, at the token endpoint or at revocation.
    let family = refresh.split_once('.').unwrap().0;
    let made_up = format!("{family}.{}", "A".repeat(43));
    let (status, body) = token_request(vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", made_up.clone()),
        ("client_id", client_id.to_owned()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // The client revokes `token`: the status.
    let revoke = async |token: &str| {
        http.post(format!("{base}/oauth/revoke"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("token", token), ("client_id", client_id)]))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(revoke(&made_up).await, 200);
    // A refresh that fails in the store (the new token cannot be kept) leaves the old one to
    // its holder, who tries again.
    records
        .failing_refresh_writes
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = refresh_as(client_id, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{body}"
    );
    // Still the holder's: it refreshes, and nothing was revoked.
    let client_key = format!("client:{client_id}");
    let kept = records.writes("put", &client_key).len();
    let (status, rotated) = refresh_as(client_id, None).await;
    assert_eq!(status, 200, "{rotated}");
    // A client in use is kept for another 90 days at each refresh, not only at a code's
    // exchange.
    let client_writes = records.writes("put", &client_key);
    assert_eq!(client_writes.len(), kept + 1);
    assert_eq!(client_writes[kept].0, Duration::from_secs(90 * 24 * 3600));
    assert_eq!(rotated["scope"], "notes");
    let again = mcp_tests::HttpClient::new(format!("{base}/mcp"), Some("2025-06-18"))
        .header("authorization", &format!("Bearer {access}"));
    assert!(
        mcp_tests::text(&again.call("whoami", json!({})).await).contains("\"bob\""),
        "the first access token still works"
    );
    // Used twice: refused, and its family with it.
    let (status, body) = refresh_as(client_id, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let newest = rotated["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = token_request(vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", newest),
        ("client_id", client_id.to_owned()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A code its client revoked before exchanging it gets no tokens.
    let (cookie, request) = open_consent().await;
    let approved = approve(Some(&cookie), &request).await;
    let login = login_cookie(&approved).unwrap_or(login);
    let code = code_after(approved, &login).await;
    assert_eq!(revoke(&code).await, 200);
    let (status, body) = token_request(vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("code_verifier", verifier.clone()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("client_id", client_id.to_owned()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn registrations_and_authorizations_are_limited_per_address() {
    let (listener, base) = listen().await;
    let oauth = offline_server(&base).limits_per_address(2, 3);
    run(listener, oauth.router());
    let http = reqwest::Client::new();
    let mut client_id = String::new();
    for _ in 0..2 {
        let res = register(&http, &base).await;
        assert_eq!(res.status(), 201);
        client_id = res.json::<Value>().await.unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    // A registration sent as anything but JSON (as a web page can make a browser send one)
    // is refused, before it counts.
    let as_text = http
        .post(format!("{base}/oauth/register"))
        .header("content-type", "text/plain")
        .body(
            json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" })
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(as_text.status(), 415);
    let refused = register(&http, &base).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Two an hour: the next one in about half an hour.
    assert!((1500..=1800).contains(&retry), "{retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("2 an hour"),
        "{body}"
    );

    // Authorizations are counted apart: three pages, then a page saying when to come back.
    let authorize = authorize_url(
        &base,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &"c".repeat(43)),
            ("code_challenge_method", "S256"),
            ("resource", &format!("{base}/mcp")),
        ],
    );
    for _ in 0..3 {
        let page = http.get(&authorize).send().await.unwrap();
        assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    }
    let refused = http.get(&authorize).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("too many authorizations from this address")
    );
}

/// A confidential client authenticates one way per request, the way it registered: the token
/// and revocation endpoints share the rule (checked in full at revocation, which answers 200 to
/// a client that authenticates, whatever the token; at the token endpoint, the client is
/// refused before its made-up grant is read).
#[tokio::test]
async fn a_client_authenticates_once_and_as_it_registered() {
    let (listener, base) = listen().await;
    run(listener, offline_server(&base).router());
    let http = reqwest::Client::new();
    let registered = |method: Option<&str>| {
        let mut meta = json!({ "redirect_uris": [REDIRECT] });
        if let Some(m) = method {
            meta["token_endpoint_auth_method"] = json!(m);
        }
        let http = http.clone();
        let base = base.clone();
        async move {
            let res = register_with(&http, &base, &meta).await;
            assert_eq!(res.status(), 201);
            let client: Value = res.json().await.unwrap();
            (
                client["client_id"].as_str().unwrap().to_owned(),
                client["client_secret"].as_str().unwrap().to_owned(),
                client["token_endpoint_auth_method"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        }
    };
    // `(endpoint, basic credentials, form fields)` → (status, OAuth error).
    let post = |endpoint: &str, basic: Option<(&str, &str)>, fields: &[(&str, &str)]| {
        let mut req = http
            .post(format!("{base}/oauth/{endpoint}"))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let body = form(fields);
        async move {
            let res = req.body(body).send().await.unwrap();
            let status = res.status().as_u16();
            let error: Value = res.json().await.unwrap_or(Value::Null);
            (
                status,
                error["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let revoke = |basic: Option<(&str, &str)>, mut fields: Vec<(&str, &str)>| {
        fields.push(("token", "not-a-token"));
        post("revoke", basic, &fields)
    };

    // Registered without a method: HTTP Basic, the default of RFC 7591.
    let (id, secret, method) = registered(None).await;
    assert_eq!(method, "client_secret_basic");
    assert_eq!(revoke(Some((&id, &secret)), vec![]).await.0, 200);
    assert_eq!(
        revoke(Some((&id, &secret)), vec![("client_id", &id)])
            .await
            .0,
        200,
        "the form may name the same client"
    );
    assert_eq!(
        revoke(None, vec![("client_id", &id), ("client_secret", &secret)]).await,
        (401, "invalid_client".to_owned()),
        "the secret in the form, where the client agreed to Basic"
    );
    assert_eq!(
        revoke(Some((&id, &secret)), vec![("client_secret", &secret)]).await,
        (400, "invalid_request".to_owned()),
        "two methods in one request"
    );
    let (other, other_secret, _) = registered(Some("client_secret_post")).await;
    assert_eq!(
        revoke(Some((&id, &secret)), vec![("client_id", &other)]).await,
        (400, "invalid_request".to_owned()),
        "the form names another client than Basic"
    );

    // Registered for the form.
    assert_eq!(
        revoke(
            None,
            vec![("client_id", &other), ("client_secret", &other_secret)]
        )
        .await
        .0,
        200
    );
    assert_eq!(
        revoke(Some((&other, &other_secret)), vec![]).await,
        (401, "invalid_client".to_owned()),
        "Basic, where the client agreed to the form"
    );
    // A wrong secret is wrong whichever way it came.
    assert_eq!(
        revoke(Some((&other, "wrong")), vec![]).await,
        (401, "invalid_client".to_owned())
    );

    // The token endpoint authenticates the client the same way, before it reads the grant: a
    // confidential client without its secret, or with it sent another way than it registered,
    // is refused as a client; with it, the (made-up) code is what is refused.
    let token = |basic: Option<(&str, &str)>, mut fields: Vec<(&str, &str)>| {
        fields.extend([
            ("grant_type", "authorization_code"),
            ("code", "made-up"),
            (
                "code_verifier",
                "a-verifier-of-at-least-forty-three-characters-long",
            ),
            ("redirect_uri", REDIRECT),
        ]);
        post("token", basic, &fields)
    };
    let refused_client = (401, "invalid_client".to_owned());
    let refused_grant = (400, "invalid_grant".to_owned());
    assert_eq!(token(None, vec![("client_id", &id)]).await, refused_client);
    assert_eq!(token(Some((&id, "wrong")), vec![]).await, refused_client);
    assert_eq!(
        token(None, vec![("client_id", &id), ("client_secret", &secret)]).await,
        refused_client
    );
    assert_eq!(token(Some((&id, &secret)), vec![]).await, refused_grant);
    assert_eq!(
        token(None, vec![("client_id", &other)]).await,
        refused_client
    );
    assert_eq!(
        token(
            None,
            vec![("client_id", &other), ("client_secret", &other_secret)]
        )
        .await,
        refused_grant
    );
}
