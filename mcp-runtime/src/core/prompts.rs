//! `prompts/get`: lookup, scope check, arguments, the prompt's messages.

use super::*;

impl Dispatcher {
    pub(super) async fn get_prompt(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let version = env.version();
        let p = params.as_ref();
        let name = match string_param(p, "name", "prompts/get") {
            Ok(n) => n.to_owned(),
            Err(e) => return Outcome::Error(e),
        };
        let snapshot = self.catalog.snapshot();
        let Some(prompt) = snapshot
            .prompt(&name)
            .filter(|p| !self.hidden(&env, p.item()))
        else {
            let shown = crate::bounds::shown(&name);
            return Outcome::Error(
                RpcError::invalid_params(format!("unknown prompt `{shown}`"))
                    .with_data(json!({ "name": shown.json() })),
            );
        };
        if let Some(e) = self.refuse_scopes(&env, &name, &prompt.scopes) {
            return Outcome::Error(e);
        }
        // A nested server's prompt: got there, as the part names it.
        if let Some(nested) = prompt.nested.clone()
            && let Some(Value::Object(mut params)) = params
        {
            params.insert("name".into(), Value::String(nested.original.clone()));
            return self
                .forward(&nested, id, "prompts/get", Value::Object(params), env)
                .await;
        }
        let args = match string_arguments(
            p.and_then(|p| p.get("arguments")),
            &format!("prompt `{name}`"),
        ) {
            Ok(a) => a,
            Err(e) => return Outcome::Error(e),
        };
        if let Some(missing) = prompt
            .arguments
            .iter()
            .find(|a| a.required && !args.iter().any(|(k, _)| *k == a.name))
        {
            return Outcome::Error(
                RpcError::invalid_params(format!(
                    "prompt `{name}` needs the argument `{}`",
                    missing.name
                ))
                .with_data(json!({ "argument": missing.name })),
            );
        }
        let meta = p
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object)
            .cloned();
        let timeout = self.tool_timeout;
        let p = p.and_then(Value::as_object);
        let arguments = p
            .and_then(|p| p.get("arguments"))
            .and_then(Value::as_object);
        let binding = self.binding(&env, "prompts/get", &name, arguments);
        let run = self.run_handler(id, meta, env, binding.as_deref(), p, timeout, |ctx| {
            prompt.get(ctx, args)
        });
        let invoked = match run.await {
            Err(outcome) => return outcome,
            Ok((invoked, _)) => invoked,
        };
        let mut result = match invoked {
            Invoked::Done(Ok(r)) => r,
            Invoked::Done(Err(e)) => {
                let mut e = e.to_rpc(version);
                if e.code == code::INVALID_PARAMS {
                    e.message = format!("prompt `{name}`: {}", e.message);
                }
                return Outcome::Error(e);
            }
            other => return Outcome::Error(other.failure(&format!("prompt `{name}`"))),
        };
        if result.description.is_none() {
            result.description.clone_from(&prompt.description);
        }
        for m in &mut result.messages {
            if let std::borrow::Cow::Owned(c) = m.content.for_version(version) {
                m.content = c;
            }
        }
        if !version.has_structured_output() {
            result.meta = None;
        }
        Outcome::Result(complete_result(version, &result, None))
    }
}
