//! Servers nested in this one ([`crate::McpServer::nest`]): a request for a part's tool,
//! resource, prompt or completion goes to the part, under the part's own name for it, through
//! the part's layers and method table (its scopes, state, timeouts, tasks of its own); URIs of
//! the part's resources in its answers are given back in the whole's form; the part's list
//! changes and resource updates reach the whole.

use super::*;
use crate::catalog::nest::{Nested, nested_uri, original_uri};
use crate::catalog::{Change, Snapshot};
use futures_util::future::BoxFuture;

/// A server nested in this one, under `namespace` (empty when merged).
pub(crate) struct Part {
    pub(crate) namespace: String,
    pub(crate) server: Arc<Dispatcher>,
}

impl Dispatcher {
    /// Answers a request in the part `nested` names: `params` already name the item as the
    /// part knows it. The part's resource URIs in the answer are put in the whole's form.
    pub(super) fn forward(
        &self,
        nested: &Nested,
        id: &RequestId,
        method: &'static str,
        params: Value,
        env: RequestEnv,
    ) -> BoxFuture<'static, Outcome> {
        let part = &self.parts[nested.part];
        let server = part.server.clone();
        let namespace = part.namespace.clone();
        let id = id.clone();
        Box::pin(async move {
            let outcome = server.request(&id, method, Some(params), env).await;
            if namespace.is_empty() {
                return outcome;
            }
            let snapshot = server.catalog.snapshot();
            match outcome {
                Outcome::Result(r) => Outcome::Result(nest_uris(r, &namespace, &snapshot)),
                Outcome::ToolError(r) => Outcome::ToolError(nest_uris(r, &namespace, &snapshot)),
                other => other,
            }
        })
    }

    /// The URI in its part of a URI this server serves through a part.
    pub(super) fn part_uri(&self, nested: &Nested, uri: &str) -> Option<String> {
        original_uri(&self.parts[nested.part].namespace, uri)
    }

    /// Replaces the entries of part `index` with its current ones (after a change in the part),
    /// and tells this server's clients which lists changed. The part's entries are read while
    /// this server's are locked, so two quick changes cannot leave the older in place; an entry
    /// the whole disabled stays disabled; one whose name the whole already uses for something
    /// else is left out, with a warning.
    fn refresh_part(&self, index: usize, changed: &Change) {
        let part = &self.parts[index];
        let server = self.info.name.as_str();
        let mut problems = Vec::new();
        self.catalog.change(|entries| {
            let (mut fresh, found) = part.server.catalog.nested_entries(index, &part.namespace);
            problems = found;
            problems.extend(crate::catalog::transform::apply_all(
                &mut fresh.tools,
                &self.transforms,
                false,
            ));
            match changed {
                Change::Tools => replace(
                    &mut entries.tools,
                    fresh.tools,
                    index,
                    server,
                    "tool",
                    |t| (&t.name, &t.nested),
                ),
                Change::Resources => replace(
                    &mut entries.resources,
                    fresh.resources,
                    index,
                    server,
                    "resource",
                    |r| (r.address_str(), &r.nested),
                ),
                Change::Prompts => replace(
                    &mut entries.prompts,
                    fresh.prompts,
                    index,
                    server,
                    "prompt",
                    |p| (&p.name, &p.nested),
                ),
                Change::Updated(_) => return ((), Vec::new()),
            }
            ((), vec![changed.clone()])
        });
        for p in problems {
            tracing::warn!(server = %self.info.name, part = %part.namespace, "{p}");
        }
    }

    /// Follows the changes of every part: list changes rebuild the part's entries here, and a
    /// part's resource update is this server's update of the same resource. The parts hold
    /// this server weakly: a whole that is dropped stops listening.
    pub(crate) fn watch_parts(self: &Arc<Self>) {
        for (index, part) in self.parts.iter().enumerate() {
            let whole = Arc::downgrade(self);
            let namespace = part.namespace.clone();
            part.server.catalog.watch(Box::new(move |change| {
                let Some(whole) = whole.upgrade() else { return };
                match change {
                    Change::Updated(uri) => {
                        if let Some(uri) = nested_uri(&namespace, uri) {
                            whole.catalog.updated(&uri);
                        }
                    }
                    list => whole.refresh_part(index, list),
                }
            }));
        }
    }
}

/// Replaces the items of part `index` in `list` by `fresh`, leaving out (with a warning) one
/// whose name or URI (`key`) another item of the whole has.
fn replace<T>(
    list: &mut Vec<(Arc<T>, bool)>,
    fresh: Vec<(Arc<T>, bool)>,
    index: usize,
    server: &str,
    what: &str,
    key: impl Fn(&T) -> (&str, &Option<Arc<Nested>>),
) {
    let from_part = |item: &T| key(item).1.as_ref().filter(|n| n.part == index).cloned();
    // What the whole disabled of the part's items, by their names in the part.
    let off: Vec<String> = list
        .iter()
        .filter(|(_, on)| !on)
        .filter_map(|(item, _)| from_part(item).map(|n| n.original.clone()))
        .collect();
    list.retain(|(item, _)| from_part(item).is_none());
    for (item, on) in fresh {
        let on = on && from_part(&item).is_none_or(|n| !off.contains(&n.original));
        let name = key(&item).0;
        if list.iter().any(|(other, _)| key(other).0 == name) {
            tracing::warn!(
                server,
                "a nested server's {what} `{name}` has the name or URI of another {what} of the \
                 whole; left out"
            );
            continue;
        }
        list.push((item, on));
    }
}

/// `answer` with the URIs of the part's resources (in resource contents, resource links and
/// embedded resources) in the whole's form. Other URIs (a link to a web page) are left alone.
fn nest_uris(answer: Box<RawValue>, namespace: &str, part: &Snapshot) -> Box<RawValue> {
    if !answer.get().contains("\"uri\"") {
        return answer;
    }
    let Ok(mut value) = serde_json::from_str::<Value>(answer.get()) else {
        return answer;
    };
    let mut changed = false;
    let mut nest = |uri: &mut Value| {
        if let Some(u) = uri.as_str()
            && part.resource(u).is_some()
            && let Some(n) = nested_uri(namespace, u)
        {
            *uri = Value::String(n);
            changed = true;
        }
    };
    let mut block = |b: &mut Value| match b.get("type").and_then(Value::as_str) {
        Some("resource_link") => {
            if let Some(u) = b.get_mut("uri") {
                nest(u);
            }
        }
        Some("resource") => {
            if let Some(u) = b.get_mut("resource").and_then(|r| r.get_mut("uri")) {
                nest(u);
            }
        }
        _ => {}
    };
    // A tool's content blocks.
    if let Some(Value::Array(blocks)) = value.get_mut("content") {
        blocks.iter_mut().for_each(&mut block);
    }
    // A prompt's messages.
    if let Some(Value::Array(messages)) = value.get_mut("messages") {
        for m in messages {
            if let Some(c) = m.get_mut("content") {
                block(c);
            }
        }
    }
    // A resource's contents.
    if let Some(Value::Array(contents)) = value.get_mut("contents") {
        for c in contents {
            if let Some(u) = c.get_mut("uri") {
                nest(u);
            }
        }
    }
    if !changed {
        return answer;
    }
    serde_json::value::to_raw_value(&value).unwrap_or(answer)
}
