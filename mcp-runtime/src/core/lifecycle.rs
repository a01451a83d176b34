//! The lifecycle methods: `initialize` and `server/discover` (the capabilities a transport can
//! offer), the `*/list` pages, `resources/subscribe`, `logging/setLevel`.

use super::*;

impl Dispatcher {
    /// The capabilities this server offers over a transport that can do what `env` says.
    pub(super) fn capabilities(&self, env: &RequestEnv) -> Value {
        let snapshot = self.catalog.peek();
        let changes = env.profile.streams;
        let mut caps = Map::new();
        caps.insert("tools".into(), json!({ "listChanged": changes }));
        let has_resources = !snapshot.resources.is_empty() || !snapshot.templates.is_empty();
        if has_resources {
            caps.insert(
                "resources".into(),
                json!({ "subscribe": changes, "listChanged": changes }),
            );
        }
        if snapshot.has_prompts() {
            caps.insert("prompts".into(), json!({ "listChanged": changes }));
        }
        if (has_resources || snapshot.has_prompts())
            && env.version() >= ProtocolVersion::V2025_03_26
        {
            caps.insert("completions".into(), json!({}));
        }
        if env.profile.logging {
            caps.insert("logging".into(), json!({}));
        }
        if env.version().has_experimental_tasks() && snapshot.has_task_tools() {
            caps.insert(
                "tasks".into(),
                json!({ "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } }),
            );
        }
        let mut extensions = Map::new();
        if env.version().is_stateless() && snapshot.has_task_tools() {
            extensions.insert(tasks::EXTENSION.into(), json!({}));
        }
        if !self.skills.is_empty() {
            extensions.insert(
                crate::catalog::skill::EXTENSION.into(),
                json!({ "directoryRead": true }),
            );
        }
        if self.apps {
            extensions.insert(crate::catalog::ui::EXTENSION.into(), json!({}));
        }
        if !extensions.is_empty() {
            caps.insert("extensions".into(), Value::Object(extensions));
        }
        Value::Object(caps)
    }

    /// The result of `server/discover` (2026-07-28).
    pub(crate) fn discover(&self, env: &RequestEnv) -> Value {
        let info = &self.info;
        let server_info = info.implementation(env.version());
        let mut result = json!({
            "resultType": "complete",
            "supportedVersions": ProtocolVersion::ALL.iter().rev().map(|v| v.as_str()).collect::<Vec<_>>(),
            "capabilities": self.capabilities(env),
            "_meta": { "io.modelcontextprotocol/serverInfo": server_info },
            "ttlMs": self.catalog.settings().ttl_ms,
            "cacheScope": "public",
        });
        if let Some(i) = &info.instructions {
            result["instructions"] = json!(i);
        }
        result
    }

    pub(super) fn initialize(
        &self,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Value, RpcError> {
        let requested = string_param(params, "protocolVersion", "initialize")?;
        let version = crate::protocol::negotiate(requested);
        let capabilities = params.and_then(|p| p.get("capabilities"));
        if let Some(c) = capabilities {
            crate::protocol::check_capabilities(c, "`params.capabilities`")?;
        }
        env.peer.set_version(version);
        env.peer.set_capabilities(capabilities.cloned());
        let info = &self.info;
        let server_info = info.implementation(version);
        let mut result = json!({
            "protocolVersion": version.as_str(),
            "capabilities": self.capabilities(env),
            "serverInfo": server_info,
        });
        if let Some(i) = &info.instructions {
            result["instructions"] = json!(i);
        }
        Ok(result)
    }

    pub(super) fn list(
        &self,
        kind: ListKind,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        let cursor = match params.and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(c.as_str()),
            Some(_) => return Err(RpcError::invalid_params("`cursor` must be a string")),
        };
        let shown = |item: Item<'_>| !self.hidden(env, item);
        let shown: Option<&crate::catalog::Shown<'_>> = self.has_visibility().then_some(&shown);
        self.catalog
            .peek()
            .page(kind, env.version(), cursor, env.scopes(), shown)
    }

    /// `resources/subscribe` and `resources/unsubscribe`: updates of the resource go to the
    /// peer's stream while it is subscribed.
    pub(super) async fn subscribe(
        &self,
        method: &str,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Value, RpcError> {
        let uri = string_param(params, "uri", method)?;
        if method == "resources/unsubscribe" {
            env.peer.unsubscribe(uri);
        } else {
            self.may_subscribe(env.caller(), env.peer.session_id(), env.version(), uri)
                .await?;
            env.peer.subscribe(uri).map_err(RpcError::invalid_params)?;
        }
        Ok(json!({}))
    }

    /// Whether `caller` may follow the updates of `uri` (`resources/subscribe`, a 2026-07-28
    /// `subscriptions/listen`): a URI of bounded length that the catalog serves, whose scopes
    /// the caller holds, and that the app's check ([`crate::McpServer::authorize_subscriptions`])
    /// lets through. A URI the app refuses is answered as one that does not exist.
    pub(crate) async fn may_subscribe(
        &self,
        caller: Option<&crate::call::context::Principal>,
        session: Option<&str>,
        version: ProtocolVersion,
        uri: &str,
    ) -> Result<(), RpcError> {
        let max = crate::bounds::MAX_KEPT_BYTES;
        if uri.len() > max {
            return Err(RpcError::invalid_params(format!(
                "the resource URI is {} bytes; a subscription's URI may have at most {max}",
                uri.len()
            )));
        }
        let (scopes, nested) = {
            let snapshot = self.catalog.peek();
            let Some((resource, found)) = snapshot.resource(uri) else {
                return Err(RequestError::not_found(uri).to_rpc(version));
            };
            if let ResourceMatch::Template(Err(problem)) = found {
                return Err(RpcError::invalid_params(format!(
                    "invalid resource URI `{}`: {problem}",
                    crate::bounds::shown(uri)
                )));
            }
            if self.hidden_from(caller, session, resource.item()) {
                return Err(RequestError::not_found(uri).to_rpc(version));
            }
            (resource.scopes.clone(), resource.nested.clone())
        };
        let held = caller.map_or(&[][..], |p| &p.scopes);
        if self.authenticated && !crate::protocol::scopes_cover(held, &scopes) {
            return Err(crate::protocol::insufficient_scope_error(uri, &scopes));
        }
        if !self.app_allows(caller, uri).await {
            return Err(RequestError::not_found(uri).to_rpc(version));
        }
        // A nested server's resource: the check of each server it is nested through, of the
        // URI that server knows.
        let mut next = nested.map(|n| (self.parts[n.part].server.clone(), self.part_uri(&n, uri)));
        while let Some((part, original)) = next.take() {
            let Some(original) = original else {
                return Err(RequestError::not_found(uri).to_rpc(version));
            };
            if !part.app_allows(caller, &original).await {
                return Err(RequestError::not_found(uri).to_rpc(version));
            }
            let deeper = part
                .catalog
                .peek()
                .resource(&original)
                .and_then(|(r, _)| r.nested.clone());
            next = deeper.map(|n| {
                (
                    part.parts[n.part].server.clone(),
                    part.part_uri(&n, &original),
                )
            });
        }
        Ok(())
    }

    /// Whether the app's check ([`crate::McpServer::authorize_subscriptions`]), if it set one,
    /// lets `caller` follow `uri`.
    async fn app_allows(
        &self,
        caller: Option<&crate::call::context::Principal>,
        uri: &str,
    ) -> bool {
        let Some(check) = &self.subscriptions else {
            return true;
        };
        check(crate::catalog::resource::Subscription {
            principal: caller.cloned(),
            uri: uri.to_owned(),
        })
        .await
    }
}

/// `logging/setLevel`: records the level on the peer.
pub(super) fn set_level(params: Option<&Value>, env: &RequestEnv) -> Result<Value, RpcError> {
    let level = params
        .and_then(|p| p.get("level"))
        .cloned()
        .and_then(|l| serde_json::from_value::<crate::call::context::LogLevel>(l).ok())
        .ok_or_else(|| {
            RpcError::invalid_params(
                "`logging/setLevel` needs `params.level`, one of: debug, info, notice, warning, \
                 error, critical, alert, emergency",
            )
        })?;
    env.peer.set_log_level(level);
    Ok(json!({}))
}
