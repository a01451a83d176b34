//! Completions (`completion/complete`): suggestions for a prompt argument or a resource
//! template variable, from a function the prompt or template names.

use crate::call::context::Context;
use crate::content::RequestError;
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The most values one completion answer carries (the specification's limit).
pub(crate) const MAX_VALUES: usize = 100;

/// What a completion function is asked.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CompletionRequest {
    /// The prompt argument or template variable being completed.
    pub argument: String,
    /// What the user has typed so far.
    pub value: String,
    /// The other arguments (or variables) already given (`context.arguments`).
    pub arguments: HashMap<String, String>,
}

/// Suggested values, with how many there are in all when more exist than are sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Completion {
    /// The suggestions, best first; at most 100 are sent.
    pub values: Vec<String>,
    /// How many suggestions there are in all, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Whether there are more than those sent.
    #[serde(rename = "hasMore", skip_serializing_if = "std::ops::Not::not")]
    pub has_more: bool,
}

impl Completion {
    /// These values; past 100, the rest are counted in `total` and `hasMore` is set.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Self {
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        Self {
            values,
            total: None,
            has_more: false,
        }
        .bounded()
    }

    /// At most [`MAX_VALUES`] values; what is cut is counted.
    pub(crate) fn bounded(mut self) -> Self {
        if self.values.len() > MAX_VALUES {
            let all = self.values.len() as u64;
            self.values.truncate(MAX_VALUES);
            self.total = Some(self.total.unwrap_or(all).max(all));
            self.has_more = true;
        }
        self
    }
}

/// Values a completion function can return: a list of suggestions, a [`Completion`], or a
/// `Result` of one of these.
pub trait IntoCompletion {
    /// The completion, or the error to answer with.
    fn into_completion(self) -> Result<Completion, RequestError>;
}

impl IntoCompletion for Completion {
    fn into_completion(self) -> Result<Completion, RequestError> {
        Ok(self.bounded())
    }
}
impl IntoCompletion for Vec<String> {
    fn into_completion(self) -> Result<Completion, RequestError> {
        Ok(Completion::new(self))
    }
}
impl IntoCompletion for Vec<&str> {
    fn into_completion(self) -> Result<Completion, RequestError> {
        Ok(Completion::new(self))
    }
}
impl<T: IntoCompletion, E: Into<RequestError>> IntoCompletion for Result<T, E> {
    fn into_completion(self) -> Result<Completion, RequestError> {
        self.map_err(Into::into)?.into_completion()
    }
}

#[doc(hidden)]
pub type CompleteFuture = BoxFuture<'static, Result<Completion, RequestError>>;
/// A completion function as `#[prompt(complete(…))]` and `#[resource(complete(…))]` register it.
#[doc(hidden)]
pub type CompleteFn = fn(Context, CompletionRequest) -> CompleteFuture;
type DynComplete = dyn Fn(Context, CompletionRequest) -> CompleteFuture + Send + Sync;

#[derive(Clone)]
pub(crate) enum CompletionHandler {
    Registered(CompleteFn),
    Dynamic(Arc<DynComplete>),
}

impl CompletionHandler {
    pub(crate) fn dynamic<F, Fut, R>(f: F) -> Self
    where
        F: Fn(Context, CompletionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCompletion,
    {
        Self::Dynamic(Arc::new(move |ctx, req| {
            let fut = f(ctx, req);
            Box::pin(async move { fut.await.into_completion() })
        }))
    }

    pub(crate) fn call(&self, ctx: Context, req: CompletionRequest) -> CompleteFuture {
        match self {
            Self::Registered(f) => f(ctx, req),
            Self::Dynamic(f) => f(ctx, req),
        }
    }
}

/// Wraps a completion function for registration: `#[prompt(complete(arg = f))]` expands to
/// `complete_with(|ctx, req| Box::pin(async move { … f(ctx, req).await … }))`.
#[doc(hidden)]
pub fn completion_output<R: IntoCompletion>(value: R) -> Result<Completion, RequestError> {
    value.into_completion()
}
