//! `resources/read`: static resources and templates, their scopes, their contents.

use super::*;

impl Dispatcher {
    pub(super) async fn read_resource(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let version = env.version();
        let uri = match string_param(params.as_ref(), "uri", "resources/read") {
            Ok(u) => u.to_owned(),
            Err(e) => return Outcome::Error(e),
        };
        let snapshot = self.catalog.snapshot();
        let Some((resource, found)) = snapshot
            .resource(&uri)
            .filter(|(r, _)| !self.hidden(&env, r.item()))
        else {
            return Outcome::Error(RequestError::not_found(&uri).to_rpc(version));
        };
        if let Some(e) = self.refuse_scopes(&env, &uri, &resource.scopes) {
            return Outcome::Error(e);
        }
        // A nested server's resource: read there, at its URI in the part.
        if let Some(nested) = resource.nested.clone() {
            let (Some(original), Some(Value::Object(mut params))) =
                (self.part_uri(&nested, &uri), params)
            else {
                return Outcome::Error(RequestError::not_found(&uri).to_rpc(version));
            };
            params.insert("uri".into(), Value::String(original));
            return self
                .forward(&nested, id, "resources/read", Value::Object(params), env)
                .await;
        }
        let vars = match found {
            ResourceMatch::Exact => Vec::new(),
            ResourceMatch::Template(Ok(vars)) => vars,
            ResourceMatch::Template(Err(problem)) => {
                let shown = crate::bounds::shown(&uri);
                return Outcome::Error(
                    RpcError::invalid_params(format!("invalid resource URI `{shown}`: {problem}"))
                        .with_data(json!({ "uri": shown.json() })),
                );
            }
        };
        let meta = params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object)
            .cloned();
        let timeout = self.tool_timeout;
        let req = ReadRequest {
            uri: uri.clone(),
            vars,
            mime_type: resource.mime_type.clone(),
        };
        let binding = self.binding(&env, "resources/read", &uri, None);
        let p = params.as_ref().and_then(Value::as_object);
        let run = self.run_handler(id, meta, env, binding.as_deref(), p, timeout, |ctx| {
            resource.read(ctx, req)
        });
        let contents = match run.await {
            Err(outcome) => return outcome,
            Ok((invoked, _)) => invoked,
        };
        let contents = match contents {
            Invoked::Done(Ok(c)) => c,
            Invoked::Done(Err(e)) => return Outcome::Error(e.to_rpc(version)),
            other => return Outcome::Error(other.failure(&format!("resource `{uri}`"))),
        };
        let contents: Vec<Value> = contents
            .into_iter()
            .map(|c| {
                let mut c = serde_json::to_value(c).expect("contents serialize");
                if let (Some(meta), Value::Object(o)) = (&resource.contents_meta, &mut c) {
                    o.entry("_meta")
                        .or_insert_with(|| Value::Object((**meta).clone()));
                }
                c
            })
            .collect();
        let extra = version.is_stateless().then(|| {
            let scope = if self.authenticated {
                "private"
            } else {
                "public"
            };
            json!({ "ttlMs": 0, "cacheScope": scope })
        });
        Outcome::Result(complete_result(
            version,
            &json!({ "contents": contents }),
            extra.as_ref(),
        ))
    }
}
