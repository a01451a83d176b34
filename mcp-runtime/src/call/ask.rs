//! Asking the client while a call runs: elicitation (a form or a URL the user fills in),
//! sampling (a completion from the client's model) and roots, in the handshake era.
//!
//! A question is a JSON-RPC request the server sends on the stream of the call that asks (the
//! call's SSE stream, upgraded from JSON if needed, or the legacy SSE stream). Its id is
//! registered in the connection's [`Questions`]; the client POSTs the JSON-RPC response, which
//! the transport hands to [`Questions::answer`]: only the session that was asked can answer, and
//! an id nobody waits for is refused. The tool waits for the answer, at most the configured time.

use crate::content::{Content, Role};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The most questions one connection may have open at once.
pub(crate) const MAX_OPEN_QUESTIONS: usize = 64;

/// The questions a connection's client has not answered yet.
#[derive(Default)]
pub(crate) struct Questions {
    next: AtomicU64,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
}

impl Questions {
    /// Registers a new question; its id and the receiver of the answer. `None` when too many
    /// are open.
    pub(crate) fn open(&self) -> Option<(String, oneshot::Receiver<Result<Value, Value>>)> {
        let mut waiting = lock(&self.waiting);
        if waiting.len() >= MAX_OPEN_QUESTIONS {
            return None;
        }
        // Unique across the instances that may serve the client's answer.
        static PROCESS: std::sync::LazyLock<String> =
            std::sync::LazyLock::new(|| crate::protocol::random_id()[..8].to_owned());
        let id = format!(
            "mcp-q-{}-{}",
            *PROCESS,
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        );
        let (tx, rx) = oneshot::channel();
        waiting.insert(id.clone(), tx);
        Some((id, rx))
    }

    /// Whether a question with this id waits for its answer here.
    pub(crate) fn is_waiting(&self, id: &crate::protocol::RequestId) -> bool {
        matches!(id, crate::protocol::RequestId::String(id) if lock(&self.waiting).contains_key(id))
    }

    /// Forgets a question (answered elsewhere, timed out, or its call ended).
    pub(crate) fn close(&self, id: &str) {
        lock(&self.waiting).remove(id);
    }

    /// Delivers the client's answer to the question `id`; false when no question of this
    /// connection has that id (unknown, answered already, or timed out).
    pub(crate) fn answer(
        &self,
        id: &crate::protocol::RequestId,
        result: Result<Value, Value>,
    ) -> bool {
        let crate::protocol::RequestId::String(id) = id else {
            return false;
        };
        match lock(&self.waiting).remove(id.as_str()) {
            Some(tx) => tx.send(result).is_ok(),
            None => false,
        }
    }

    /// Ends every open question: the connection is gone.
    pub(crate) fn close_all(&self) {
        lock(&self.waiting).clear();
    }
}

/// Whether `id` can be the id of a question [`Questions::open`] made, here or on another
/// instance: `mcp-q-<8 hex digits>-<n>`. A client's answer to any other id answers nothing.
pub(crate) fn could_be_question_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("mcp-q-") else {
        return false;
    };
    let Some((process, n)) = rest.split_once('-') else {
        return false;
    };
    process.len() == 8
        && process
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && (1..=20).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_digit())
}

/// Why a question to the client got no usable answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AskError {
    /// The client did not declare the capability the question needs (`elicitation`,
    /// `sampling`, `roots`).
    NotDeclared {
        /// The capability.
        capability: &'static str,
    },
    /// This call cannot carry a question: request-response transport, JSON-only answers, or no
    /// session to route the answer back to.
    Unavailable(String),
    /// The client did not answer in time.
    TimedOut,
    /// The call was cancelled or the session ended while waiting.
    Cancelled,
    /// The client answered with a JSON-RPC error.
    Refused {
        /// The error code.
        code: i64,
        /// The client's message.
        message: String,
    },
    /// The client's answer did not have the expected shape.
    InvalidAnswer(String),
    /// The type asked for cannot be a form (elicitation forms are flat objects of strings,
    /// numbers, integers, booleans and enums).
    NotAForm(String),
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDeclared { capability } => write!(
                f,
                "the client did not declare the `{capability}` capability, so it cannot be asked"
            ),
            Self::Unavailable(why) => write!(f, "the client cannot be asked here: {why}"),
            Self::TimedOut => f.write_str("the client did not answer in time"),
            Self::Cancelled => f.write_str("the call ended while waiting for the client"),
            Self::Refused { code, message } => {
                write!(f, "the client refused the request ({code}): {message}")
            }
            Self::InvalidAnswer(why) => write!(f, "the client's answer is not valid: {why}"),
            Self::NotAForm(why) => write!(f, "this type cannot be an elicitation form: {why}"),
        }
    }
}

impl std::error::Error for AskError {}

/// What the user did with an elicitation form.
#[derive(Clone, Debug, PartialEq)]
pub enum Elicitation<T> {
    /// Submitted the form, with these values.
    Accept(T),
    /// Explicitly declined.
    Decline,
    /// Dismissed without choosing.
    Cancel,
}

/// What the user did with a URL elicitation.
#[derive(Clone, Debug, PartialEq)]
pub struct UrlElicitation {
    /// `Accept` (the user agreed to open the URL; its content is `()`), `Decline` or `Cancel`.
    pub action: Elicitation<()>,
    /// The id the request carried (2025-11-25), for `notifications/elicitation/complete`.
    pub elicitation_id: Option<String>,
}

/// A message of a sampling request or result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingMessage {
    /// Who says it.
    pub role: Role,
    /// What is said (text, image or audio).
    pub content: Content,
}

/// A request for a completion from the client's model (`sampling/createMessage`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SamplingRequest {
    /// The conversation so far.
    pub messages: Vec<SamplingMessage>,
    /// A system prompt the client may use.
    #[serde(rename = "systemPrompt", skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// The most tokens to generate.
    #[serde(rename = "maxTokens")]
    pub max_tokens: u32,
    /// Hints for choosing a model (`hints`, `costPriority`, `speedPriority`,
    /// `intelligencePriority`), passed as given.
    #[serde(rename = "modelPreferences", skip_serializing_if = "Option::is_none")]
    pub model_preferences: Option<Value>,
    /// The sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Sequences that stop generation.
    #[serde(rename = "stopSequences", skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Tools the model may call (`{name, description, inputSchema}` objects; 2025-11-25 and
    /// later, for clients that declared `sampling.tools`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    /// How the model should use them (`{"mode": "auto" | "required" | "none"}`).
    #[serde(rename = "toolChoice", skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
}

impl SamplingRequest {
    /// A request for at most `max_tokens` tokens answering one user message.
    pub fn new(user_text: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            messages: vec![SamplingMessage {
                role: Role::User,
                content: Content::text(user_text),
            }],
            max_tokens,
            ..Self::default()
        }
    }
}

/// The client's completion (`CreateMessageResult`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SamplingResult {
    /// Who wrote it (the assistant).
    pub role: Role,
    /// What it wrote: a content block (`{"type": "text", …}`), or from 2025-11-25 a list of
    /// them that may include `tool_use` blocks.
    pub content: Value,
    /// The model that wrote it.
    pub model: String,
    /// Why generation stopped (`endTurn`, `stopSequence`, `maxTokens`, …).
    #[serde(rename = "stopReason", default)]
    pub stop_reason: Option<String>,
}

impl SamplingResult {
    /// The text of the completion, when it is text.
    pub fn text(&self) -> Option<&str> {
        let block = match &self.content {
            Value::Array(blocks) => blocks.iter().find(|b| b["type"] == "text")?,
            other => other,
        };
        (block["type"] == "text")
            .then(|| block["text"].as_str())
            .flatten()
    }
}

/// A root the client shares (a directory or another URI the server may work in).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Root {
    /// The root's URI (`file:///…`).
    pub uri: String,
    /// Its name, if the client gives one.
    #[serde(default)]
    pub name: Option<String>,
}

/// A type an elicitation form is made from: a struct with named fields, each a [`FormValue`].
/// Derive it (`#[derive(serde::Deserialize, schemars::JsonSchema, Form)]`): the derive checks
/// the fields when the code compiles.
pub trait Form: JsonSchema + DeserializeOwned {}

/// What one field of a form can be: strings, numbers, booleans, an `Option` of these, an enum
/// that derives `Form` (a choice), or a `Vec` of such an enum (several choices).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of an elicitation form",
    label = "a form asks for strings, numbers, booleans and choices only",
    note = "use `String`, a number, `bool`, an `Option` of these, an enum with unit variants that derives `Form`, or a `Vec` of such an enum"
)]
pub trait FormValue {}

/// An enum whose unit variants are the choices of a form field (derive `Form` on it).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a multiple choice of an elicitation form",
    label = "a `Vec` field of a form holds an enum that derives `Form`",
    note = "derive `Form` on an enum with unit variants"
)]
pub trait FormChoice: FormValue {}

macro_rules! form_values {
    ($($t:ty),*) => { $(impl FormValue for $t {})* };
}
form_values!(String, bool, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);
impl<T: FormValue> FormValue for Option<T> {}
impl<T: FormChoice> FormValue for Vec<T> {}

/// Checks one field type of a `#[derive(Form)]` struct.
#[doc(hidden)]
pub fn assert_form_value<T: FormValue>() {}

/// The JSON Schema of a form: a flat object whose properties are strings, numbers, integers,
/// booleans, or enums of strings (the shapes elicitation allows). The error names what is not.
pub(crate) fn form_schema<T: JsonSchema>() -> Result<Value, String> {
    let settings = schemars::generate::SchemaSettings::draft2020_12();
    let schema = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    let (schema, _) = crate::schema_compat::compatible(&schema);
    let mut schema = match schema {
        Value::Object(o) => o,
        _ => return Err("the form is not an object".into()),
    };
    schema.remove("title");
    schema.remove("$defs");
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut props = props;
    for prop in props.values_mut() {
        titled_enum(prop);
    }
    for (name, prop) in &props {
        let ty = prop.get("type").and_then(Value::as_str);
        let primitive = matches!(ty, Some("string" | "number" | "integer" | "boolean"));
        let multi = ty == Some("array")
            && prop
                .get("items")
                .is_some_and(|i| i.get("enum").is_some() || i.get("anyOf").is_some());
        if !(primitive || multi) {
            return Err(format!(
                "field `{name}` is not a string, number, integer, boolean or enum, which is all \
                 a form can ask"
            ));
        }
    }
    schema.insert("properties".into(), Value::Object(props));
    Ok(Value::Object(schema))
}

/// An enum whose variants have doc comments is a `oneOf` of `const`s: the titled single-select
/// form of SEP-1330, with each variant's doc comment as its title.
fn titled_enum(prop: &mut Value) {
    let Some(o) = prop.as_object_mut() else {
        return;
    };
    let Some(Value::Array(branches)) = o.get_mut("oneOf") else {
        return;
    };
    if !branches
        .iter()
        .all(|b| b.get("const").is_some_and(Value::is_string))
    {
        return;
    }
    for b in branches.iter_mut() {
        if let Some(bo) = b.as_object_mut() {
            bo.remove("type");
            if let Some(d) = bo.remove("description") {
                bo.entry("title").or_insert(d);
            }
        }
    }
    o.insert("type".into(), json!("string"));
}

/// Whether the client's `elicitation` capability covers `mode` (`form` or `url`): `{}` means
/// form (its meaning before modes existed); `{url: {}}` alone means URL only.
pub(crate) fn elicitation_mode_declared(capabilities: Option<&Value>, mode: &str) -> bool {
    let Some(e) = capabilities.and_then(|c| c.get("elicitation")) else {
        return false;
    };
    match mode {
        "url" => e.get("url").is_some(),
        _ => e.get("form").is_some() || e.get("url").is_none(),
    }
}

/// Reads an `ElicitResult` into what the user did.
pub(crate) fn elicitation<T: DeserializeOwned>(answer: Value) -> Result<Elicitation<T>, AskError> {
    match answer.get("action").and_then(Value::as_str) {
        Some("accept") => {
            let content = answer.get("content").cloned().unwrap_or(json!({}));
            serde_json::from_value(content)
                .map(Elicitation::Accept)
                .map_err(|e| AskError::InvalidAnswer(format!("the form's values: {e}")))
        }
        Some("decline") => Ok(Elicitation::Decline),
        Some("cancel") => Ok(Elicitation::Cancel),
        _ => Err(AskError::InvalidAnswer(
            "`action` must be `accept`, `decline` or `cancel`".into(),
        )),
    }
}

/// The params of an `elicitation/create` form request.
pub(crate) fn form_params(message: &str, schema: Value) -> Value {
    let mut p = Map::new();
    p.insert("message".into(), json!(message));
    p.insert("requestedSchema".into(), schema);
    Value::Object(p)
}

/// One input-required round of a 2026-07-28 request: the answers the client sent
/// (`inputResponses`, with those of earlier rounds carried in `requestState`), and the questions
/// the handler asks that have no answer yet, which end the round.
#[derive(Default)]
pub(crate) struct Round {
    answers: Map<String, Value>,
    /// Answers to questions this request was not asked (a first request's `inputResponses`,
    /// or keys beside those the last round asked): taken only by a question that accepts an
    /// answer up front ([`crate::ask::Question::answered_up_front`]); ignored otherwise.
    offered: Map<String, Value>,
    /// The offered answers taken this round, sealed with the others if the round goes on.
    taken: Mutex<Map<String, Value>>,
    next_key: AtomicU64,
    asked: Mutex<Map<String, Value>>,
    /// Woken when a question without an answer is asked.
    pub(crate) waiting: tokio::sync::Notify,
    /// Set when the call went on as a task: later questions go to the task.
    pub(crate) escalation: Option<Arc<Escalation>>,
}

/// A call that may go on as a task (2026-07-28 tasks extension): once it has, its questions go
/// to the task (answered with `tasks/update`) instead of ending the round.
#[derive(Default)]
pub(crate) struct Escalation {
    to: std::sync::OnceLock<TaskAsking>,
}

/// Where an escalated call's questions go.
pub(crate) struct TaskAsking {
    pub(crate) questions: Arc<Questions>,
    pub(crate) timeout: std::time::Duration,
    pub(crate) tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl Escalation {
    /// The call goes on as a task, asking through `to`.
    pub(crate) fn escalate(&self, to: TaskAsking) {
        let _ = self.to.set(to);
    }

    /// Where questions go, once the call is a task.
    pub(crate) fn task(&self) -> Option<&TaskAsking> {
        self.to.get()
    }
}

/// The most questions one round may ask.
pub(crate) const MAX_ROUND_QUESTIONS: usize = 32;

impl Round {
    pub(crate) fn new(answers: Map<String, Value>, offered: Map<String, Value>) -> Self {
        Self {
            answers,
            offered,
            ..Self::default()
        }
    }

    /// The key of a question asked without one: `q1`, `q2`, … in the order asked, the same in
    /// every round since the handler runs again from the start.
    pub(crate) fn default_key(&self) -> String {
        format!("q{}", self.next_key.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// The client's answer to the question `key`, if it sent one when asked (or, for a
    /// question that accepts one `up_front`, whenever it sent one).
    pub(crate) fn answer(&self, key: &str, up_front: bool) -> Option<Value> {
        if let Some(answer) = self.answers.get(key) {
            return Some(answer.clone());
        }
        let answer = self.offered.get(key).filter(|_| up_front)?;
        lock(&self.taken).insert(key.to_owned(), answer.clone());
        Some(answer.clone())
    }

    /// Records a question to send in this round's `inputRequests`.
    pub(crate) fn ask(&self, key: String, method: &str, params: Value) {
        let mut asked = lock(&self.asked);
        if asked.len() < MAX_ROUND_QUESTIONS {
            asked.insert(key, json!({ "method": method, "params": params }));
        }
        drop(asked);
        self.waiting.notify_one();
    }

    /// The questions asked without answers, and every answer so far (for `requestState`).
    pub(crate) fn finish(&self) -> (Map<String, Value>, Map<String, Value>) {
        let mut answers = self.answers.clone();
        answers.extend(std::mem::take(&mut *lock(&self.taken)));
        (std::mem::take(&mut *lock(&self.asked)), answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_ids_are_recognised_and_nothing_else() {
        let questions = Questions::default();
        let (id, _) = questions.open().unwrap();
        assert!(could_be_question_id(&id), "{id}");
        for other in [
            "",
            "mcp-q-",
            "mcp-q-0123abcd-",
            "mcp-q-0123abcd-x",
            "mcp-q-0123ABCD-1",
            "mcp-q-0123abc-1",
            "mcp-q-0123abcd-1-2",
            "mcp-q-0123abcd-123456789012345678901",
            "made-up",
        ] {
            assert!(!could_be_question_id(other), "{other}");
        }
        assert!(could_be_question_id("mcp-q-0123abcd-18446744073709551615"));
    }
}
