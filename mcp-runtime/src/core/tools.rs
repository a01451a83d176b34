//! `tools/call`: lookup, scope check, the task decision, argument checks, the call, and its
//! result shaped for the revision.

use super::*;
use crate::catalog::search::MetaTool;

impl Dispatcher {
    pub(super) async fn call_tool(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let params = match params {
            Some(Value::Object(p)) => p,
            _ => {
                return Outcome::Error(RpcError::invalid_params(
                    "`tools/call` needs `params` with the tool's `name`",
                ));
            }
        };
        // Taken apart in one pass (a removal per member costs a search and a rebalance each):
        // the name, the arguments and `_meta`, and the rest (a task, a round's answers).
        let (mut name, mut arguments, mut meta) = (None, None, None);
        let mut rest = Map::new();
        for (key, value) in params {
            match key.as_str() {
                "name" => name = Some(value),
                "arguments" => arguments = Some(value),
                "_meta" => meta = Some(value),
                _ => {
                    rest.insert(key, value);
                }
            }
        }
        // The params whole again, for the rare paths that hand them on (`name` as given).
        let whole = |mut rest: Map<String, Value>, name: String, arguments, meta| {
            rest.insert("name".into(), Value::String(name));
            if let Some(a) = arguments {
                rest.insert("arguments".into(), a);
            }
            if let Some(m) = meta {
                rest.insert("_meta".into(), m);
            }
            rest
        };
        let name = match name {
            Some(Value::String(n)) => n,
            _ => {
                return Outcome::Error(RpcError::invalid_params(
                    "`tools/call` needs `params.name`, the tool's name (a string)",
                ));
            }
        };
        let snapshot = self.catalog.snapshot();
        let tool = match self.callable_tool(&snapshot, &env, &name) {
            Ok(tool) => tool,
            Err(e) => return Outcome::Error(e),
        };
        match tool.meta_tool {
            Some(MetaTool::Search) => {
                let params = whole(rest, name, arguments, meta);
                return self.search_tools(&snapshot, &params, &env);
            }
            Some(MetaTool::Call) => {
                let params = whole(rest, name, arguments, meta);
                return self.call_by_name(id, params, env).await;
            }
            None => {}
        }
        if env.version().is_stateless()
            && tool.task != TaskSupport::Forbidden
            && !env.in_task
            && env.escalation.is_none()
        {
            if tasks::declared(env.peer.capabilities().as_deref()) {
                let params = whole(rest, name, arguments, meta);
                // Boxed, as the other rare paths: see `dispatch`.
                return Box::pin(self.call_as_task(id, params, env)).await;
            }
            if tool.task == TaskSupport::Required {
                return Outcome::Error(tasks::not_declared(&format!("tool `{name}`")));
            }
        }
        // 2025-11-25's experimental tasks: the client asks for a task with `task`.
        if env.version().has_experimental_tasks() && !env.in_task {
            match (rest.get("task"), tool.task) {
                (Some(_), TaskSupport::Forbidden) => {
                    return Outcome::Error(RpcError::invalid_params(format!(
                        "tool `{name}` does not run as a task; call it without `task`"
                    )));
                }
                (Some(task), _) => {
                    let ttl = task
                        .get("ttl")
                        .and_then(Value::as_u64)
                        .map(|ms| Duration::from_millis(ms).min(tasks::MAX_REQUESTED_TTL));
                    let params = whole(rest, name, arguments, meta);
                    return Box::pin(self.start_experimental_task(id, params, env, ttl)).await;
                }
                (None, TaskSupport::Required) => {
                    return Outcome::Error(RpcError::invalid_params(format!(
                        "tool `{name}` runs only as a task: call it with `task`"
                    )));
                }
                (None, _) => {}
            }
        }
        // A nested server's tool: called there, as the part names it.
        if let Some(nested) = tool.nested.clone() {
            // Arguments that are not an object go as they are: the part refuses them.
            let arguments = match (&tool.arguments_map, arguments) {
                (Some(map), None | Some(Value::Null)) => Some(Value::Object(map.apply(Map::new()))),
                (Some(map), Some(Value::Object(a))) => Some(Value::Object(map.apply(a))),
                (_, arguments) => arguments,
            };
            let params = whole(rest, nested.original.clone(), arguments, meta);
            return self
                .forward(&nested, id, "tools/call", Value::Object(params), env)
                .await;
        }
        let in_task = env.in_task;
        let escalation = env.escalation.clone();
        let args = match arguments {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a,
            Some(_) => {
                return Outcome::Error(RpcError::invalid_params(format!(
                    "the arguments of tool `{name}` must be an object"
                )));
            }
        };
        let args = match &tool.arguments_map {
            Some(map) => map.apply(args),
            None => args,
        };
        let meta = match meta {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        let version = env.version();
        let timeout = tool.timeout.or(self.tool_timeout);
        let binding = self.binding(&env, "tools/call", &name, Some(&args));
        let run = self.run_handler(
            id,
            meta,
            env,
            binding.as_deref(),
            Some(&rest),
            timeout,
            |ctx| tool.call(ctx, args),
        );
        let (invoked, probe) = match run.await {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        let output = match invoked {
            Invoked::Cancelled | Invoked::InputRequired => unreachable!("answered by run_handler"),
            Invoked::TimedOut(t) => {
                crate::catalog::tool::ToolOutput::Result(CallToolResult::error(format!(
                    "tool `{name}` timed out after {} ms",
                    t.as_millis()
                )))
            }
            Invoked::Panicked(msg) => {
                tracing::error!(tool = %name, panic = %msg, "tool panicked");
                let msg = format!("tool `{name}` failed: it panicked ({msg})");
                // A task's panic is a failure of the task, not a result of the tool.
                if in_task || escalation.as_ref().is_some_and(|e| e.task().is_some()) {
                    return Outcome::Error(RpcError::new(
                        crate::protocol::code::INTERNAL_ERROR,
                        msg,
                    ));
                }
                crate::catalog::tool::ToolOutput::Result(CallToolResult::error(msg))
            }
            Invoked::Done(output) => output,
        };
        // A missing client capability the tool let through (`?`) is the protocol error; a tool
        // that handled it and answered otherwise keeps its answer.
        let failed = match &output {
            crate::catalog::tool::ToolOutput::Result(r) => r.is_error,
            _ => false,
        };
        if let Some(e) = probe.take_protocol_error()
            && failed
        {
            return Outcome::Error(e);
        }
        use crate::catalog::tool::ToolOutput;
        let result = match output {
            ToolOutput::Result(r) => shape_result(r, version),
            ToolOutput::Structured(value) => structured_result(tool, value, version),
            ToolOutput::InvalidArguments(msg) => {
                let msg =
                    crate::bounds::capped(format!("invalid arguments for tool `{name}`: {msg}"));
                if version.validation_is_tool_error() {
                    CallToolResult::error(msg)
                } else {
                    return Outcome::Error(RpcError::invalid_params(msg));
                }
            }
        };
        let failed = result.is_error;
        let result = complete_result(version, &result, None);
        if failed {
            Outcome::ToolError(result)
        } else {
            Outcome::Result(result)
        }
    }

    /// The search tool: the caller's tools (scopes and visibility hold) best matching `query`.
    fn search_tools(
        &self,
        snapshot: &crate::catalog::Snapshot,
        params: &Map<String, Value>,
        env: &RequestEnv,
    ) -> Outcome {
        let args = params.get("arguments");
        let Some(query) = args.and_then(|a| a.get("query")).and_then(Value::as_str) else {
            return Outcome::Error(RpcError::invalid_params(
                "the search needs `query`, what the tool should do (a string)",
            ));
        };
        let limit = args
            .and_then(|a| a.get("limit"))
            .and_then(Value::as_u64)
            .map_or(10, |l| l as usize)
            .clamp(1, self.search_max.max(1));
        let version = env.version();
        // The best few first; when the caller may not see enough of them and there are more,
        // all of them.
        let usable = |want: usize| -> (Vec<&crate::catalog::Tool>, bool) {
            let ranked = snapshot.search_tools(query, want);
            let more = ranked.len() >= want;
            let tools = ranked
                .into_iter()
                .filter(|t| self.refuse_scopes(env, &t.name, &t.scopes).is_none())
                .filter(|t| !self.hidden(env, t.item()))
                .take(limit)
                .collect();
            (tools, more)
        };
        let (mut tools, more) = usable(limit * 4 + 16);
        if tools.len() < limit && more {
            tools = usable(usize::MAX).0;
        }
        let found: Vec<Value> = tools
            .into_iter()
            .map(|t| {
                let mut found = json!({ "name": t.name, "inputSchema": t.get_input_schema() });
                if let Some(d) = &t.description {
                    found["description"] = json!(d);
                }
                if let Some(title) = &t.title {
                    found["title"] = json!(title);
                }
                found
            })
            .collect();
        let structured = json!({ "tools": found });
        let result = CallToolResult {
            content: vec![Content::text(structured.to_string())],
            structured_content: Some(structured),
            ..CallToolResult::default()
        };
        Outcome::Result(complete_result(
            version,
            &shape_result(result, version),
            None,
        ))
    }

    /// The tool `name` as this request's caller may call it: the server has it, the caller
    /// may see it (else it is an unknown tool) and holds its scopes; else the error the call
    /// is answered with.
    pub(super) fn callable_tool<'s>(
        &self,
        snapshot: &'s crate::catalog::Snapshot,
        env: &RequestEnv,
        name: &str,
    ) -> Result<&'s crate::catalog::Tool, RpcError> {
        let Some(tool) = snapshot.tool(name).filter(|t| !self.hidden(env, t.item())) else {
            let shown = crate::bounds::shown(name);
            return Err(RpcError::invalid_params(format!("unknown tool `{shown}`"))
                .with_data(json!({ "name": shown.json() })));
        };
        match self.refuse_scopes(env, name, &tool.scopes) {
            Some(e) => Err(e),
            None => Ok(tool),
        }
    }

    /// The call tool: the named tool's call, through the whole request path (layers, scopes,
    /// visibility, tasks), as if the client had called it.
    fn call_by_name(
        self: &Arc<Self>,
        id: &RequestId,
        params: Map<String, Value>,
        env: RequestEnv,
    ) -> futures_util::future::BoxFuture<'static, Outcome> {
        let args = params.get("arguments").cloned().unwrap_or_default();
        let name = args.get("name").and_then(Value::as_str).map(str::to_owned);
        let me = self.clone();
        let id = id.clone();
        Box::pin(async move {
            let Some(name) = name else {
                return Outcome::Error(RpcError::invalid_params(
                    "the call tool needs `name`, the tool to call (a string)",
                ));
            };
            if me
                .catalog
                .peek()
                .tool(&name)
                .is_some_and(|t| t.meta_tool.is_some())
            {
                return Outcome::Error(RpcError::invalid_params(format!(
                    "`{}` is one of the search's own tools; call it directly",
                    crate::bounds::shown(&name)
                )));
            }
            let mut inner = json!({ "name": name, "arguments": args.get("arguments").cloned().unwrap_or_else(|| json!({})) });
            // What the call carries beside its arguments goes on to the call it makes: its
            // `_meta`, the answers of an input-required round and its sealed state (bound to
            // the tool called, so checked as if sent to it), a request to run as a task.
            for field in ["_meta", "inputResponses", "requestState", "task"] {
                if let Some(value) = params.get(field) {
                    inner[field] = value.clone();
                }
            }
            me.request(&id, "tools/call", Some(inner), env).await
        })
    }

    /// A `tools/call`, boxed with its type written out, so that a call (which may go on as a
    /// task) and the task (which runs a call) do not make one infinite future.
    pub(super) fn call_boxed(
        self: Arc<Self>,
        id: RequestId,
        params: Value,
        env: RequestEnv,
    ) -> futures_util::future::BoxFuture<'static, Outcome> {
        Box::pin(async move { self.call_tool(&id, Some(params), env).await })
    }
}

pub(super) fn shape_result(mut r: CallToolResult, version: ProtocolVersion) -> CallToolResult {
    if !version.has_structured_output() {
        r.structured_content = None;
    }
    if r.content
        .iter()
        .any(|c| !matches!(c.for_version(version), std::borrow::Cow::Borrowed(_)))
    {
        r.content = r
            .content
            .iter()
            .map(|c| c.for_version(version).into_owned())
            .collect();
    }
    r
}

pub(super) fn structured_result(
    tool: &crate::catalog::Tool,
    value: Value,
    version: ProtocolVersion,
) -> CallToolResult {
    let text = serde_json::to_string(&value).expect("values serialize");
    let structured = if !version.has_structured_output() {
        None
    } else if tool.wrap_output {
        Some(json!({ "result": value }))
    } else {
        Some(value)
    };
    CallToolResult {
        content: vec![Content::text(text)],
        structured_content: structured,
        ..CallToolResult::default()
    }
}
