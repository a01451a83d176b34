//! MCP middleware: tower layers over the typed requests a server answers, and the policies
//! built on them.
//!
//! An axum layer sees an HTTP request; it cannot tell a `tools/call` of `create_project` from a
//! `ping`. A layer added with [`McpServer::layer`](crate::McpServer::layer) (or
//! [`layer_on`](crate::McpServer::layer_on), for some requests only) sees each [`McpRequest`]
//! of every transport: its method, the tool, prompt or resource it names, the arguments, the
//! principal, the session, the headers. It may refuse it (answer [`McpResponse::error`]),
//! rewrite it, or watch its outcome and how long it took.
//!
//! ```
//! use std::time::Duration;
//! use mcp_runtime::McpServer;
//! use mcp_runtime::middleware::{self, Audit, ConcurrencyLimit, RateLimit, Select};
//!
//! let server = McpServer::new("CRM")
//!     // A line per request: who, what, the outcome, how long.
//!     .layer(Audit::new())
//!     // 30 calls a minute of `create_project` per caller.
//!     .layer_on(Select::tool("create_project"), RateLimit::per_minute("create_project", 30))
//!     // At most two exports running at once per caller.
//!     .layer_on(Select::tool("export_projects"), ConcurrencyLimit::new("export_projects", 2))
//!     // Anything else, written as a function.
//!     .layer(middleware::from_fn(|req, next| async move {
//!         if req.method() == "tools/call" && req.name() == Some("shutdown") {
//!             return middleware::McpResponse::error(mcp_runtime::protocol::RpcError::new(
//!                 -32601,
//!                 "not here",
//!             ));
//!         }
//!         next.run(req).await
//!     }));
//! ```
//!
//! The policies ([`RateLimit`], [`ConcurrencyLimit`], [`ResponseCache`]) keep their state in a
//! [`PolicyStore`]: [`MemoryPolicyStore`](crate::store::MemoryPolicyStore) by default (one per policy, so a limit per instance),
//! or a `RedisStore` shared by every instance of the app, which makes a limit one limit across
//! them. When the store fails, a policy refuses the request (the default, fail closed) or lets
//! it through ([`RateLimit::fail_open`] …), at once, with one log line.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};
use tower::{Layer, Service, ServiceExt};

pub use crate::core::middleware::{McpLayer, McpRequest, McpResponse, McpService, Select};
use crate::store::policy::PolicyStore;

/// The builder methods every policy has, written once: where its state is kept (its
/// `Settings` has `store`), and the [`Layer`] that puts it on a stack. `$what` names the state
/// in the docs ("the counters").
macro_rules! store_builder {
    ($policy:ident, $what:literal) => {
        impl $policy {
            #[doc = concat!("Where ", $what, " are kept: a `RedisStore` shares them between instances.")]
            #[must_use]
            pub fn store(self, store: impl $crate::store::PolicyStore) -> Self {
                self.shared_store(std::sync::Arc::new(store))
            }

            #[doc = concat!("[`", stringify!($policy), "::store`] with a store already shared.")]
            #[must_use]
            pub fn shared_store(
                mut self,
                store: std::sync::Arc<dyn $crate::middleware::PolicyStore>,
            ) -> Self {
                std::sync::Arc::make_mut(&mut self.inner).store = store;
                self
            }
        }

        impl tower::Layer<$crate::middleware::McpService> for $policy {
            type Service = $crate::middleware::McpService;

            fn layer(&self, inner: $crate::middleware::McpService) -> Self::Service {
                tower::Layer::layer(&$crate::middleware::AroundLayer(self.clone()), inner)
            }
        }
    };
}

/// The builder methods of a limit (its `Settings` has `key` and `on_error` too), written once.
macro_rules! limit_builder {
    ($policy:ident, $what:literal) => {
        store_builder!($policy, $what);

        impl $policy {
            /// What requests are counted by (default [`Key::Caller`]).
            #[must_use]
            pub fn key(mut self, key: $crate::middleware::Key) -> Self {
                std::sync::Arc::make_mut(&mut self.inner).key = key;
                self
            }

            /// Lets requests through when the store fails (default: refuse them).
            #[must_use]
            pub fn fail_open(mut self) -> Self {
                std::sync::Arc::make_mut(&mut self.inner).on_error =
                    $crate::middleware::OnStoreError::FailOpen;
                self
            }
        }
    };
}

mod audit;
mod cache;
mod concurrency;
mod rate;

pub use audit::Audit;
pub use cache::ResponseCache;
pub use concurrency::ConcurrencyLimit;
pub use rate::RateLimit;

/// The rest of the stack below a layer written with [`from_fn`] or [`Around`].
#[derive(Clone)]
pub struct Next(McpService);

impl Next {
    /// Runs the request through the rest of the stack.
    pub fn run(self, req: McpRequest) -> BoxFuture<'static, McpResponse> {
        self.0.answer(req)
    }
}

/// What a layer does around the rest of the stack: the shape of every policy here, and of
/// [`from_fn`]. A type that implements it is a layer with [`AroundLayer`].
pub trait Around: Clone + Send + Sync + 'static {
    /// Answers `req`, usually by running `next` (or refusing without it).
    fn around(&self, req: McpRequest, next: Next) -> BoxFuture<'static, McpResponse>;
}

/// An [`Around`] as a tower layer. Its service is an [`McpService`] that calls the `Around`
/// directly: one boxed future per request (the `Around`'s), no clone of the service and no
/// `poll_ready`.
#[derive(Clone, Debug)]
pub struct AroundLayer<A>(pub A);

impl<A: Around> Layer<McpService> for AroundLayer<A> {
    type Service = McpService;

    fn layer(&self, inner: McpService) -> McpService {
        McpService::from_answer(AroundAnswer {
            around: self.0.clone(),
            inner,
        })
    }
}

/// An [`Around`] with the rest of the stack below it.
struct AroundAnswer<A> {
    around: A,
    inner: McpService,
}

impl<A: Around> crate::core::middleware::Answer for AroundAnswer<A> {
    fn answer(&self, req: McpRequest) -> BoxFuture<'static, McpResponse> {
        self.around.around(req, Next(self.inner.clone()))
    }
}

/// A layer written as an async function of the request and the rest of the stack.
pub fn from_fn<F, Fut>(f: F) -> AroundLayer<FromFn<F>>
where
    F: Fn(McpRequest, Next) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = McpResponse> + Send + 'static,
{
    AroundLayer(FromFn(f))
}

/// The [`Around`] of [`from_fn`].
#[derive(Clone)]
pub struct FromFn<F>(F);

impl<F, Fut> Around for FromFn<F>
where
    F: Fn(McpRequest, Next) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = McpResponse> + Send + 'static,
{
    fn around(&self, req: McpRequest, next: Next) -> BoxFuture<'static, McpResponse> {
        Box::pin((self.0)(req, next))
    }
}

/// A tower layer whose services may fail (`tower::timeout` and the like), as MCP
/// middleware: a failure becomes the answer `answer` makes of it (a JSON-RPC error the client
/// can act on), since a layer here answers every request.
///
/// ```
/// use std::time::Duration;
/// use mcp_runtime::middleware::{self, McpResponse, Select};
/// use mcp_runtime::{McpServer, protocol::RpcError};
///
/// let server = McpServer::new("CRM").layer_on(
///     Select::tool("export_projects"),
///     middleware::answering(tower::timeout::TimeoutLayer::new(Duration::from_secs(30)), |e| {
///         McpResponse::error(RpcError::new(-32001, format!("export_projects: {e}")))
///     }),
/// );
/// ```
pub fn answering<L, F>(layer: L, answer: F) -> Answering<L, F>
where
    F: Fn(tower::BoxError) -> McpResponse + Clone + Send + Sync + 'static,
{
    Answering { layer, answer }
}

/// The layer of [`answering`].
#[derive(Clone, Debug)]
pub struct Answering<L, F> {
    layer: L,
    answer: F,
}

impl<L, F> Layer<McpService> for Answering<L, F>
where
    L: Layer<McpService>,
    F: Clone,
{
    type Service = AnsweringService<L::Service, F>;

    fn layer(&self, inner: McpService) -> Self::Service {
        AnsweringService {
            inner: self.layer.layer(inner),
            answer: self.answer.clone(),
        }
    }
}

/// The service of [`Answering`].
#[derive(Clone, Debug)]
pub struct AnsweringService<S, F> {
    inner: S,
    answer: F,
}

impl<S, F> Service<McpRequest> for AnsweringService<S, F>
where
    S: Service<McpRequest, Response = McpResponse> + Clone + Send + 'static,
    S::Error: Into<tower::BoxError>,
    S::Future: Send + 'static,
    F: Fn(tower::BoxError) -> McpResponse + Clone + Send + Sync + 'static,
{
    type Response = McpResponse;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<McpResponse, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut TaskContext<'_>,
    ) -> Poll<Result<(), std::convert::Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        let inner = self.inner.clone();
        let answer = self.answer.clone();
        Box::pin(async move {
            Ok(match inner.oneshot(req).await {
                Ok(r) => r,
                Err(e) => answer(e.into()),
            })
        })
    }
}

/// What a policy counts requests by.
#[derive(Clone)]
pub enum Key {
    /// The caller: the principal (its subject within its issuer); without one, the client's
    /// address (as [`Key::ClientAddress`]: a session, which a client opens at will, is no
    /// limit); else one key for all anonymous callers.
    Caller,
    /// The caller (as [`Key::Caller`]) and the tool, prompt or resource the request names, as
    /// the server has it (a resource template, not the URI it matched); a name the server does
    /// not have counts as none, so that made-up names cannot make keys without end.
    CallerAndName,
    /// The client's address (when the app serves with `ConnectInfo`, as `mcp_runtime::serve`
    /// does), an IPv6 address by its /64; one key for all requests without one.
    ClientAddress,
    /// The key the function returns; `None` exempts the request from the policy.
    Custom(KeyFn),
}

/// The function of a [`Key::Custom`].
pub type KeyFn = Arc<dyn Fn(&McpRequest) -> Option<String> + Send + Sync>;

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Caller => f.write_str("Caller"),
            Self::CallerAndName => f.write_str("CallerAndName"),
            Self::ClientAddress => f.write_str("ClientAddress"),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Key {
    /// A key the function chooses.
    pub fn custom(f: impl Fn(&McpRequest) -> Option<String> + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// The key of `req`; `None`: the policy does not apply (nor to a call of the tool
    /// search's call tool: the call it makes is counted, see [`McpRequest::relays_a_call`]).
    fn of(&self, req: &McpRequest) -> Option<String> {
        if req.relays_a_call() {
            return None;
        }
        let address = || match req.client_addr() {
            Some(a) => format!("addr:{}", crate::bounds::client_network(a.ip())),
            None => "anonymous".to_owned(),
        };
        let caller = || {
            req.principal()
                .map_or_else(address, crate::call::context::Principal::owner_key)
        };
        match self {
            Self::Caller => Some(caller()),
            Self::CallerAndName => Some(format!(
                "{}\u{1f}{}",
                caller(),
                req.item_name().unwrap_or_default()
            )),
            Self::ClientAddress => Some(address()),
            Self::Custom(f) => f(req),
        }
    }
}

/// What a policy does when its store fails (Redis down or slow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnStoreError {
    /// Refuse the request with a JSON-RPC error saying the limit cannot be checked (HTTP 503).
    #[default]
    FailClosed,
    /// Let the request through unchecked.
    FailOpen,
}

/// The store key of a policy's key: a hash (bounded, and no client text in the store).
fn store_key(kind: &str, policy: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(policy.as_bytes());
    h.update([0x1f]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(kind.len() + 1 + 32);
    out.push_str(kind);
    out.push(':');
    crate::protocol::push_hex(&digest[..16], &mut out);
    out
}

/// How long after its store was unavailable a policy answers as its `on_error` says without
/// asking the store again: a store that is down or slow would otherwise cost every request
/// the store's whole timeout.
const OUTAGE: std::time::Duration = std::time::Duration::from_millis(500);

/// When a policy's store was last unavailable (see [`OUTAGE`]).
#[derive(Debug, Default)]
struct Outage {
    /// Milliseconds since [`Outage::now`]'s epoch until which the store is not asked.
    until: std::sync::atomic::AtomicU64,
}

impl Outage {
    fn now() -> u64 {
        static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        u64::try_from(
            EPOCH
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
    }

    fn ongoing(&self) -> bool {
        Self::now() < self.until.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes what the store answered: unavailable, an outage begins now (a refusal is not one).
    fn note(&self, e: &crate::store::StoreError) {
        if e.is_unavailable() {
            let until = Self::now().saturating_add(OUTAGE.as_millis() as u64);
            self.until
                .store(until, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A policy's store that failed to answer: what to answer instead, as the policy's
/// `on_error` says (`None`: let the request through), and whether the store was asked at all.
struct StoreFailed {
    answer: Option<McpResponse>,
    asked: bool,
}

/// What a policy's store answers to `ask`; or, when the store fails (or was unavailable
/// within [`OUTAGE`]: then it is not asked), what to answer instead, logged at most once a
/// second.
async fn ask_store<T>(
    policy: &str,
    on_error: OnStoreError,
    outage: &Outage,
    ask: impl Future<Output = Result<T, crate::store::StoreError>>,
) -> Result<T, StoreFailed> {
    if outage.ongoing() {
        let e = crate::store::StoreError::unavailable(format!(
            "the store was unavailable less than {} ms ago; not asked again yet",
            OUTAGE.as_millis()
        ));
        return Err(StoreFailed {
            answer: store_failed(policy, on_error, &e),
            asked: false,
        });
    }
    ask.await.map_err(|e| {
        outage.note(&e);
        StoreFailed {
            answer: store_failed(policy, on_error, &e),
            asked: true,
        }
    })
}

/// The answer of a policy whose store failed, as `on_error` says; `None`: let it through.
fn store_failed(
    policy: &str,
    on_error: OnStoreError,
    error: &crate::store::StoreError,
) -> Option<McpResponse> {
    crate::bounds::warn_limited!(
        policy,
        error = %error,
        open = on_error == OnStoreError::FailOpen,
        "a middleware policy could not reach its store"
    );
    match on_error {
        OnStoreError::FailOpen => None,
        OnStoreError::FailClosed => Some(McpResponse::error(crate::protocol::RpcError::new(
            crate::protocol::code::STORE_UNAVAILABLE,
            format!("the limit `{policy}` cannot be checked now; try again shortly"),
        ))),
    }
}

fn default_store() -> Arc<dyn PolicyStore> {
    Arc::new(crate::store::policy::MemoryPolicyStore::default())
}
