//! `completion/complete`: of prompt arguments and template variables.

use super::*;

impl Dispatcher {
    pub(super) async fn complete(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let version = env.version();
        let p = params.as_ref();
        let bad = |m: &str| Outcome::Error(RpcError::invalid_params(m.to_owned()));
        let Some(reference) = p.and_then(|p| p.get("ref")) else {
            return bad("`completion/complete` needs `params.ref`");
        };
        let Some(argument) = p.and_then(|p| p.get("argument")) else {
            return bad("`completion/complete` needs `params.argument` with `name` and `value`");
        };
        let (Some(arg_name), Some(value)) = (
            argument.get("name").and_then(Value::as_str),
            argument.get("value").and_then(Value::as_str),
        ) else {
            return bad("`params.argument` needs `name` and `value` (strings)");
        };
        let context = match string_arguments(
            p.and_then(|p| p.get("context"))
                .and_then(|c| c.get("arguments")),
            "completion context",
        ) {
            Ok(a) => a,
            Err(e) => return Outcome::Error(e),
        };
        let snapshot = self.catalog.snapshot();
        let (handler, scopes, what, nested) = match reference.get("type").and_then(Value::as_str) {
            Some("ref/prompt") => {
                let Some(name) = reference.get("name").and_then(Value::as_str) else {
                    return bad("a `ref/prompt` reference needs `name`");
                };
                let Some(prompt) = snapshot
                    .prompt(name)
                    .filter(|p| !self.hidden(&env, p.item()))
                else {
                    return Outcome::Error(RpcError::invalid_params(format!(
                        "unknown prompt `{}`",
                        crate::bounds::shown(name)
                    )));
                };
                if !prompt.arguments.iter().any(|a| a.name == arg_name) {
                    return Outcome::Error(RpcError::invalid_params(format!(
                        "prompt `{name}` has no argument `{}`",
                        crate::bounds::shown(arg_name)
                    )));
                }
                (
                    prompt.completions.get(arg_name),
                    &prompt.scopes,
                    name,
                    prompt.nested.clone(),
                )
            }
            Some("ref/resource") => {
                let Some(uri) = reference.get("uri").and_then(Value::as_str) else {
                    return bad("a `ref/resource` reference needs `uri`");
                };
                let Some(template) = snapshot
                    .template(uri)
                    .filter(|t| !self.hidden(&env, t.item()))
                else {
                    return Outcome::Error(RpcError::invalid_params(format!(
                        "unknown resource template `{}`",
                        crate::bounds::shown(uri)
                    )));
                };
                (
                    template.completions.get(arg_name),
                    &template.scopes,
                    uri,
                    template.nested.clone(),
                )
            }
            _ => return bad("`params.ref.type` must be `ref/prompt` or `ref/resource`"),
        };
        if let Some(e) = self.refuse_scopes(&env, what, scopes) {
            return Outcome::Error(e);
        }
        // Of a nested server's prompt or template: completed there, as the part names it.
        if let Some(nested) = nested
            && let Some(Value::Object(mut params)) = params.clone()
        {
            let key = if reference.get("type").and_then(Value::as_str) == Some("ref/prompt") {
                "name"
            } else {
                "uri"
            };
            if let Some(Value::Object(r)) = params.get_mut("ref") {
                r.insert(key.into(), Value::String(nested.original.clone()));
            }
            return self
                .forward(
                    &nested,
                    id,
                    "completion/complete",
                    Value::Object(params),
                    env,
                )
                .await;
        }
        let completion = match handler {
            None => crate::catalog::Completion::default(),
            Some(handler) => {
                let req = CompletionRequest {
                    argument: arg_name.to_owned(),
                    value: value.to_owned(),
                    arguments: context.into_iter().collect(),
                };
                let meta = p
                    .and_then(|p| p.get("_meta"))
                    .and_then(Value::as_object)
                    .cloned();
                let cancel = env.cancel.clone();
                let timeout = self.tool_timeout;
                let ctx = self.context(id, meta, env, None);
                match invoke::run(handler.call(ctx, req), timeout, &cancel, None).await {
                    Invoked::Cancelled => return Outcome::Cancelled,
                    Invoked::Done(Ok(c)) => c.bounded(),
                    Invoked::Done(Err(e)) => return Outcome::Error(e.to_rpc(version)),
                    other => {
                        return Outcome::Error(
                            other.failure(&format!("completion of `{arg_name}`")),
                        );
                    }
                }
            }
        };
        Outcome::Result(complete_result(
            version,
            &json!({ "completion": completion }),
            None,
        ))
    }
}
