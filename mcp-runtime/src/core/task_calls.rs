//! Calls that run as tasks (the 2026-07-28 extension and 2025-11-25's experimental tasks), and
//! the `tasks/*` methods.

use super::*;

impl Dispatcher {
    /// A `tools/call` of a tool that may run as a task, from a client that declared the
    /// extension. The call starts in this request: if it finishes at once, or ends an
    /// input-required round (questions before any other wait are rounds, 2026-07-28's usual
    /// way), it is answered directly. Once it waits on anything but the client it goes on as a
    /// task: the record is written first (a `tasks/get` right after the handle finds it), the
    /// call is moved to a task of its own, its later questions go to the task, and the request
    /// is answered with the task handle.
    pub(super) async fn call_as_task(
        self: &Arc<Self>,
        id: &RequestId,
        params: Map<String, Value>,
        mut env: RequestEnv,
    ) -> Outcome {
        let escalation = Arc::new(crate::call::ask::Escalation::default());
        // The work's own cancellation: once a task, it outlives the request.
        let work = CancellationToken::new();
        env.escalation = Some(escalation.clone());
        env.cancel = work.clone();
        let owner = env.owner();
        // A call the running-task bounds would refuse as a task does not start its work (it
        // would be dropped half-way once it waits).
        if let Err(e) = self.tasks.room(owner.as_ref()) {
            return Outcome::Error(e);
        }
        let peer = Peer::new(
            env.version(),
            env.peer.capabilities().map(|c| (*c).clone()),
            None,
        );
        let mut call = self
            .clone()
            .call_boxed(id.clone(), Value::Object(params), env);
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(outcome) = first {
            return outcome;
        }
        let record = match self
            .tasks
            .create(owner, peer.clone(), work.clone(), None)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                work.cancel();
                return Outcome::Error(e);
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        escalation.escalate(crate::call::ask::TaskAsking {
            questions: peer.questions(),
            timeout: self.tasks.settings.input_timeout,
            tx,
        });
        tokio::spawn(self.clone().task_messages(record.id.clone(), rx));
        let ended = self.finish_when_done(record.id.clone(), call);
        let mut created = Map::new();
        created.insert("resultType".into(), json!("task"));
        created.extend(tasks::detailed(&record, self.tasks.settings.poll_interval));
        Outcome::Task(raw(&Value::Object(created)), Some(ended))
    }

    /// A task-augmented `tools/call` of 2025-11-25: the task is created at once and the call
    /// runs detached. Questions to the client are not carried inside these tasks (the
    /// extension of 2026-07-28 does that).
    pub(super) async fn start_experimental_task(
        self: &Arc<Self>,
        id: &RequestId,
        mut params: Map<String, Value>,
        env: RequestEnv,
        ttl: Option<Duration>,
    ) -> Outcome {
        params.remove("task");
        let work = CancellationToken::new();
        let record = match self
            .tasks
            .create(env.owner(), env.peer.clone(), work.clone(), ttl)
            .await
        {
            Ok(r) => r,
            Err(e) => return Outcome::Error(e),
        };
        // The task runs detached: nothing streamed, nothing asked.
        let profile = Profile {
            logging: false,
            streams: false,
            asking: AskVia::No(
                "this task cannot ask the client: use the tasks extension of 2026-07-28",
            ),
            transport: env.profile.transport,
        };
        let mut run = RequestEnv::new(env.http.clone(), env.peer.clone(), work, profile);
        run.principal = env.principal.clone();
        run.in_task = true;
        let call = self
            .clone()
            .call_boxed(id.clone(), Value::Object(params), run);
        let ended = self.finish_when_done(record.id.clone(), call);
        let task = tasks::experimental(&record, self.tasks.settings.poll_interval);
        Outcome::Task(raw(&json!({ "task": task })), Some(ended))
    }

    /// `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel` of 2025-11-25, on the caller's
    /// own tasks.
    pub(super) async fn experimental_task_method(
        &self,
        method: &str,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        let owner = env.owner();
        let poll = self.tasks.settings.poll_interval;
        if method == "tasks/list" {
            let records = self.tasks.list(owner.as_ref()).await?;
            let list: Vec<Value> = records
                .iter()
                .map(|r| Value::Object(tasks::experimental(r, poll)))
                .collect();
            return Ok(raw(&json!({ "tasks": list })));
        }
        let id = string_param(params, "taskId", method)?;
        match method {
            "tasks/get" => {
                let r = self.tasks.read(id, owner.as_ref()).await?;
                Ok(raw(&Value::Object(tasks::experimental(&r, poll))))
            }
            "tasks/cancel" => {
                // 2025-11-25: a task that has ended cannot be cancelled (-32602).
                if let Some(ended) = self.tasks.cancel(id, owner.as_ref()).await? {
                    return Err(RpcError::invalid_params(format!(
                        "task `{}` has ended ({ended:?}); it cannot be cancelled",
                        crate::bounds::shown(id)
                    )));
                }
                let r = self.tasks.read(id, owner.as_ref()).await?;
                Ok(raw(&Value::Object(tasks::experimental(&r, poll))))
            }
            _ => {
                // `tasks/result` waits for the task to end, then answers as the call would have.
                let r = self.tasks.ended(id, owner.as_ref(), &env.cancel).await?;
                match r.status {
                    tasks::TaskStatus::Completed => {
                        let mut result = r.result.unwrap_or_else(|| json!({}));
                        if let Some(o) = result.as_object_mut() {
                            o.insert(
                                "_meta".into(),
                                json!({ "io.modelcontextprotocol/related-task": { "taskId": id } }),
                            );
                        }
                        Ok(raw(&result))
                    }
                    tasks::TaskStatus::Failed => Err(r
                        .error
                        .and_then(|e| serde_json::from_value(e).ok())
                        .unwrap_or_else(|| RpcError::new(code::INTERNAL_ERROR, "the task failed"))),
                    _ => Err(RpcError::new(
                        code::SERVER_ERROR,
                        format!("task `{id}` was cancelled"),
                    )),
                }
            }
        }
    }

    /// Runs a task's call to its end, detached, and records how it ended; the token returned
    /// is cancelled then (a concurrency permit is held until it is).
    pub(super) fn finish_when_done(
        self: &Arc<Self>,
        task: String,
        call: futures_util::future::BoxFuture<'static, Outcome>,
    ) -> CancellationToken {
        let this = self.clone();
        let ended = CancellationToken::new();
        // Cancelled however the task's future ends, even if it is dropped at shutdown.
        let guard = ended.clone().drop_guard();
        tokio::spawn(async move {
            let _ended = guard;
            let outcome = match call.await {
                Outcome::Cancelled => None,
                Outcome::Error(e) => Some(Err(e)),
                done => done.result().map(|raw| {
                    serde_json::from_str(raw.get()).map_err(|e| {
                        RpcError::new(crate::protocol::code::INTERNAL_ERROR, e.to_string())
                    })
                }),
            };
            this.tasks.finish(&task, outcome).await;
        });
        ended
    }

    /// What a task's tool sends while it runs: its questions become the task's
    /// `inputRequests` (status `input_required`), its progress messages the status message.
    pub(super) async fn task_messages(
        self: Arc<Self>,
        task: String,
        mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) {
        while let Some(message) = rx.recv().await {
            let Ok(message) = serde_json::from_slice::<Value>(&message) else {
                continue;
            };
            let method = message.get("method").and_then(Value::as_str);
            match (message.get("id"), method) {
                (Some(key), Some(method)) => {
                    let key = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
                    let request = json!({ "method": method, "params": message.get("params") });
                    self.tasks
                        .update(&task, |r| {
                            r.input_requests.insert(key, request);
                            r.status = tasks::TaskStatus::InputRequired;
                        })
                        .await;
                }
                (None, Some("notifications/progress")) => {
                    if let Some(m) = message["params"]["message"].as_str() {
                        let m = m.to_owned();
                        self.tasks
                            .update(&task, |r| r.status_message = Some(m))
                            .await;
                    }
                }
                _ => {}
            }
        }
    }

    /// `tasks/get`, `tasks/update`, `tasks/cancel`: for clients that declared the extension,
    /// on their own tasks only.
    pub(super) async fn task_method(
        &self,
        method: &str,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        if !tasks::declared(env.peer.capabilities().as_deref()) {
            return Err(tasks::not_declared(&format!("`{method}`")));
        }
        let id = string_param(params, "taskId", method)?;
        let owner = env.owner();
        match method {
            "tasks/get" => self.tasks.get(id, owner.as_ref()).await.map(|v| raw(&v)),
            "tasks/cancel" => {
                self.tasks.cancel(id, owner.as_ref()).await?;
                Ok(raw(&json!({ "resultType": "complete" })))
            }
            _ => {
                let Some(responses) = params
                    .and_then(|p| p.get("inputResponses"))
                    .and_then(Value::as_object)
                else {
                    return Err(RpcError::invalid_params(
                        "`tasks/update` needs `params.inputResponses`, the answers by key (an object)",
                    ));
                };
                self.tasks.answer(id, owner.as_ref(), responses).await?;
                Ok(raw(&json!({ "resultType": "complete" })))
            }
        }
    }
}
