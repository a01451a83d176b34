//! Running a handler: the scope check (and its failure text) written once for tools,
//! resources and prompts, the handler's `Context`, and the input-required round of a 2026-07-28
//! request (its sealed state, bound to the request).

use super::*;

impl Dispatcher {
    /// The refusal of a call to an item whose scopes the caller lacks, if so.
    pub(super) fn refuse_scopes(
        &self,
        env: &RequestEnv,
        name: &str,
        needed: &[String],
    ) -> Option<RpcError> {
        (self.authenticated && !crate::protocol::scopes_cover(env.scopes(), needed))
            .then(|| crate::protocol::insufficient_scope_error(name, needed))
    }

    /// Whether the app's visibility hook hides an item from the request's caller: a hidden
    /// item is answered as one that does not exist.
    pub(super) fn hidden(&self, env: &RequestEnv, item: Item<'_>) -> bool {
        self.has_visibility() && self.hidden_from(env.caller(), env.peer.session_id(), item)
    }

    /// Whether the visibility hook hides `item` from `principal` in `session`; a nested
    /// server's item is also hidden when the server it comes from hides it (asked of the item
    /// under its own name there).
    pub(crate) fn hidden_from(
        &self,
        principal: Option<&crate::call::context::Principal>,
        session: Option<&str>,
        item: Item<'_>,
    ) -> bool {
        let hidden_here = self.visibility.as_ref().is_some_and(|shown| {
            !shown(&crate::catalog::Visibility {
                principal,
                session,
                kind: item.kind,
                name: item.name,
                tags: item.tags,
            })
        });
        if hidden_here {
            return true;
        }
        let Some(nested) = item.nested else {
            return false;
        };
        let part = &self.parts[nested.part].server;
        let snapshot = part.catalog.peek();
        let original = nested.original.as_str();
        let found = match item.kind {
            ItemKind::Tool => snapshot.tool(original).map(|t| (&t.tags[..], &t.nested)),
            ItemKind::Prompt => snapshot.prompt(original).map(|p| (&p.tags[..], &p.nested)),
            ItemKind::Resource => snapshot
                .resource(original)
                .map(|(r, _)| (&r.tags[..], &r.nested)),
            ItemKind::Template => snapshot
                .template(original)
                .map(|r| (&r.tags[..], &r.nested)),
        };
        // Gone from the part since (a change not yet seen here): hidden, as it cannot be used.
        let Some((tags, deeper)) = found else {
            return true;
        };
        part.hidden_from(
            principal,
            session,
            Item {
                kind: item.kind,
                name: original,
                tags,
                nested: deeper.as_deref(),
            },
        )
    }

    /// Whether this server, or one nested in it, has a visibility hook.
    pub(super) fn has_visibility(&self) -> bool {
        self.visibility.is_some() || self.parts.iter().any(|p| p.server.has_visibility())
    }

    /// The refusal of a `tools/call`, `resources/read` or `prompts/get` whose caller lacks the
    /// item's scopes, decided before the request is accepted (a transport answers 403 at once).
    pub(crate) fn scope_refusal(
        &self,
        parts: &http::request::Parts,
        method: &str,
        params: Option<&Value>,
    ) -> Option<RpcError> {
        let held = parts
            .extensions
            .get::<crate::call::context::Principal>()
            .map_or(&[][..], |p| &p.scopes);
        let snapshot = self.catalog.peek();
        let (name, needed, item) = match method {
            "tools/call" => {
                let name = params?.get("name")?.as_str()?;
                let tool = snapshot.tool(name)?;
                (name, &tool.scopes, tool.item())
            }
            "prompts/get" => {
                let name = params?.get("name")?.as_str()?;
                let prompt = snapshot.prompt(name)?;
                (name, &prompt.scopes, prompt.item())
            }
            "resources/read" => {
                let uri = params?.get("uri")?.as_str()?;
                let (r, _) = snapshot.resource(uri)?;
                (uri, &r.scopes, r.item())
            }
            _ => return None,
        };
        // Hidden from this caller: not refused here, answered as unknown by the method. (Only
        // asked when a hook exists: a server without one pays no header lookup per call.)
        if self.has_visibility() {
            let session = parts
                .headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok());
            let principal = parts.extensions.get::<crate::call::context::Principal>();
            if self.hidden_from(principal, session, item) {
                return None;
            }
        }
        (!crate::protocol::scopes_cover(held, needed))
            .then(|| crate::protocol::insufficient_scope_error(name, needed))
    }

    pub(super) fn context(
        self: &Arc<Self>,
        id: &RequestId,
        meta: Option<Map<String, Value>>,
        env: RequestEnv,
        round: Option<Round>,
    ) -> Context {
        let env = env.into_inner();
        let asking = match (env.profile.asking, round) {
            (AskVia::Stream, _) => Asking::Available {
                questions: env.peer.questions(),
                timeout: self.ask_timeout,
            },
            (AskVia::Rounds, Some(round)) => Asking::Rounds(round),
            (AskVia::Rounds, None) => Asking::Unavailable(
                "only tools/call, prompts/get and resources/read may ask the client",
            ),
            (AskVia::No(why), _) => Asking::Unavailable(why),
        };
        Context::new(ContextParts {
            asking,
            principal: env.principal,
            host: self.clone(),
            http: env.http,
            request_id: Some(id.clone()),
            meta,
            version: env.peer.version(),
            cancel: env.cancel,
            notifier: env.notifier,
            client_capabilities: env.peer.capabilities(),
        })
    }

    /// What a `requestState` of this request is bound to (see [`state::binding`]), in the
    /// 2026-07-28 era where rounds are; `None` elsewhere.
    pub(super) fn binding(
        &self,
        env: &RequestEnv,
        method: &str,
        target: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Option<String> {
        matches!(env.profile.asking, AskVia::Rounds).then(|| {
            let caller = env.owner();
            state::binding(
                &self.info.name,
                method,
                target,
                arguments,
                caller.as_deref(),
            )
        })
    }

    /// The input-required round of a 2026-07-28 request (`binding`: see [`Self::binding`]):
    /// the answers of earlier rounds (from the sealed `requestState`) and of this one
    /// (`inputResponses`), which may answer only the questions the last round asked.
    pub(super) fn round(
        &self,
        env: &RequestEnv,
        binding: Option<&str>,
        params: Option<&Map<String, Value>>,
    ) -> Result<Option<Round>, RpcError> {
        let Some(binding) = binding.filter(|_| matches!(env.profile.asking, AskVia::Rounds)) else {
            return Ok(None);
        };
        let state::Opened { mut answers, asked } = match params.and_then(|p| p.get("requestState"))
        {
            None | Some(Value::Null) => state::Opened::default(),
            Some(Value::String(s)) => {
                state::open(&self.state_key, binding, s).map_err(RpcError::invalid_params)?
            }
            Some(_) => {
                return Err(RpcError::invalid_params("`requestState` must be a string"));
            }
        };
        // Answers to the questions the last round asked join those of earlier rounds (one
        // sent again for a question answered before keeps the first); any other answer was not
        // asked for: it is kept aside, taken only by a question that accepts an answer up front
        // (`Question::answered_up_front`), and otherwise ignored, so that the handler asks
        // again (SEP-2322: servers ignore what they do not recognize).
        let mut offered = Map::new();
        match params.and_then(|p| p.get("inputResponses")) {
            None | Some(Value::Null) => {}
            Some(Value::Object(responses)) => {
                for (key, answer) in responses {
                    if answers.contains_key(key) {
                        continue;
                    }
                    if !asked.iter().any(|k| k == key) {
                        if answer.is_object()
                            && offered.len() < crate::call::ask::MAX_ROUND_QUESTIONS
                        {
                            offered.insert(key.clone(), answer.clone());
                        }
                    } else if !answer.is_object() {
                        return Err(RpcError::invalid_params(format!(
                            "`inputResponses.{}` must be the client's result object",
                            crate::bounds::shown(key)
                        )));
                    } else {
                        answers.insert(key.clone(), answer.clone());
                    }
                }
            }
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "`inputResponses` must be an object of the client's results by key",
                ));
            }
        }
        let mut round = Round::new(answers, offered);
        round.escalation = env.escalation.clone();
        Ok(Some(round))
    }

    /// Runs a handler in its context (with its round, in the 2026-07-28 era): how it ended and
    /// its context, or the answer to send at once (a refused `requestState`, the end of a
    /// round, a cancellation).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_handler<T, F>(
        self: &Arc<Self>,
        id: &RequestId,
        meta: Option<Map<String, Value>>,
        env: RequestEnv,
        binding: Option<&str>,
        params: Option<&Map<String, Value>>,
        timeout: Option<Duration>,
        handler: impl FnOnce(Context) -> F,
    ) -> Result<(Invoked<T>, Context), Outcome>
    where
        F: Future<Output = T>,
    {
        let round = self.round(&env, binding, params).map_err(Outcome::Error)?;
        let ctx = self.context(id, meta, env, round);
        let probe = ctx.clone();
        match invoke::run(handler(ctx), timeout, probe.cancel_token(), probe.round()).await {
            Invoked::Cancelled => Err(Outcome::Cancelled),
            Invoked::InputRequired => {
                let round = probe.round().expect("only rounds end with questions");
                let binding = binding.expect("only a request with a binding has rounds");
                Err(Outcome::InputRequired(self.input_required(round, binding)))
            }
            done => Ok((done, probe)),
        }
    }

    /// The result that ends a round: the questions without answers, and the sealed state.
    pub(super) fn input_required(&self, round: &Round, binding: &str) -> Box<RawValue> {
        let (asked, answers) = round.finish();
        let sealed = state::seal(&self.state_key, binding, asked.keys(), &answers);
        raw(&json!({
            "resultType": "input_required",
            "inputRequests": asked,
            "requestState": sealed,
        }))
    }
}
