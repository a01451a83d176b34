//! The methods of the skills extension: `skills/list`, `skills/get`,
//! `resources/directory/read` (the files themselves are read with `resources/read`).

use super::*;

impl Dispatcher {
    /// `skills/list`, `skills/get` or `resources/directory/read`.
    pub(super) fn skill_method(
        &self,
        method: &str,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        let version = env.version();
        let held = self.authenticated.then(|| env.scopes());
        // The lists are the caller's own when scopes apply, like the other lists.
        let extra = version.is_stateless().then(|| {
            let scope = if self.authenticated {
                "private"
            } else {
                "public"
            };
            json!({ "ttlMs": self.catalog.settings().ttl_ms, "cacheScope": scope })
        });
        let result = match method {
            "skills/list" => {
                no_cursor(params, method)?;
                json!({ "skills": self.skills.list(held) })
            }
            "skills/get" => {
                let uri = string_param(params, "uri", method)?;
                let Some((entry, scopes)) = self.skills.get(uri) else {
                    return Err(not_a_skill(uri));
                };
                if let Some(e) = self.refuse_scopes(env, uri, scopes) {
                    return Err(e);
                }
                json!({ "skill": entry })
            }
            _ => {
                no_cursor(params, method)?;
                let uri = string_param(params, "uri", method)?;
                let Some(children) = self.skills.directory(uri, held) else {
                    let shown = crate::bounds::shown(uri);
                    return Err(RpcError::invalid_params(format!(
                        "`{shown}` is not a folder of a skill served here"
                    ))
                    .with_data(json!({ "uri": shown.json() })));
                };
                json!({ "resources": children })
            }
        };
        Ok(complete_result(version, &result, extra.as_ref()))
    }
}

/// The error for a `skills/get` of a URI that is not a skill served here (or not one the
/// caller may see).
fn not_a_skill(uri: &str) -> RpcError {
    let shown = crate::bounds::shown(uri);
    RpcError::invalid_params(format!("No skill is served at {shown}"))
        .with_data(json!({ "uri": shown.json() }))
}

/// Every answer is one page: a cursor is one this server never gave.
fn no_cursor(params: Option<&Value>, method: &str) -> Result<(), RpcError> {
    match params.and_then(|p| p.get("cursor")) {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(RpcError::invalid_params(format!(
            "invalid cursor: {method} answers in one page and gives no cursor"
        ))),
    }
}
