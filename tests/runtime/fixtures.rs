//! Tools used by the tests, one per feature of `#[tool]`.

use mcp_runtime::{
    Content, Context, Form, RequestError, State, ToolError, ask::Elicitation, ask::SamplingRequest,
    catalog::Completion, catalog::CompletionRequest, content::CallToolResult,
    content::GetPromptResult, content::PromptMessage, context::LogLevel, prompt, resource, tool,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Add two numbers.
#[tool(domain = "fx", read_only, idempotent)]
pub(crate) fn add(
    /// The first number.
    a: i64,
    /// The second number.
    b: i64,
) -> i64 {
    a + b
}

/// Queue a job in a region; the region and priority also travel as `Mcp-Param-*` headers.
#[tool(domain = "fx")]
pub(crate) fn queue_job(
    /// Where to run it.
    #[header("Region")]
    region: String,
    /// Higher runs sooner.
    #[header]
    priority: Option<i64>,
    /// What to run.
    job: String,
) -> String {
    format!("{job} queued in {region} at {}", priority.unwrap_or(0))
}

/// Echo the text back.
#[tool(domain = ["fx", "small"])]
pub(crate) async fn echo(
    /// What to echo.
    text: String,
) -> String {
    text
}

/// A greeting for a person.
#[derive(Serialize, Deserialize, JsonSchema)]
pub(crate) struct Greeting {
    /// Whom it greets.
    pub(crate) name: String,
    /// The greeting.
    pub(crate) message: String,
}

fn default_greeting() -> String {
    "Hello".to_owned()
}

/// Greet someone, with structured output.
#[tool(domain = "fx")]
pub(crate) async fn greet(
    /// The person's name.
    #[serde(rename = "userName")]
    user_name: String,
    /// The greeting word.
    #[serde(default = "default_greeting")]
    greeting: String,
    /// Shout it.
    loud: Option<bool>,
) -> Greeting {
    let mut message = format!("{greeting}, {user_name}!");
    if loud == Some(true) {
        message = message.to_uppercase();
    }
    Greeting {
        name: user_name,
        message,
    }
}

/// One step of a plan.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct Step {
    /// What to do.
    pub(crate) title: String,
    /// How long it takes.
    pub(crate) minutes: u32,
}

/// Sum up a plan: nested arguments, a raw identifier and an optional one.
#[tool(domain = "fx")]
pub(crate) fn plan(
    /// The steps, in order.
    steps: Vec<Step>,
    /// What kind of plan it is.
    r#type: Option<String>,
) -> String {
    let minutes: u32 = steps.iter().map(|s| s.minutes).sum();
    let titles: Vec<&str> = steps.iter().map(|s| s.title.as_str()).collect();
    format!(
        "{} ({minutes} min, {})",
        titles.join(" → "),
        r#type.as_deref().unwrap_or("no type")
    )
}

/// Fail with the given reason.
#[tool(domain = "fx")]
pub(crate) fn fail(
    /// Why.
    reason: String,
) -> Result<String, ToolError> {
    Err(ToolError::new(format!("it failed: {reason}")))
}

/// Fail through `?` on a std error.
#[tool(domain = "fx")]
pub(crate) fn parse_number(
    /// Text holding an integer.
    text: String,
) -> Result<i64, ToolError> {
    Ok(text.trim().parse::<i64>()?)
}

/// Panic.
#[tool(domain = "fx")]
pub(crate) async fn explode() -> String {
    panic!("boom")
}

/// Return one block of every content type.
#[tool(domain = "fx")]
pub(crate) fn contents() -> Vec<Content> {
    vec![
        Content::text("some text"),
        Content::image([0x89, b'P', b'N', b'G'], "image/png"),
        Content::audio(b"RIFF", "audio/wav"),
        Content::embedded_text("test://doc", "text/plain", "embedded"),
        Content::embedded_blob("test://bin", "application/octet-stream", [1, 2, 3]),
        Content::resource_link("test://linked", "linked"),
    ]
}

/// A counter shared by the tools of a server.
#[derive(Default)]
pub(crate) struct Counter(pub(crate) AtomicU64);

/// Count calls, with shared state.
#[tool(domain = "fx")]
pub(crate) fn count(counter: State<Counter>) -> u64 {
    counter.0.fetch_add(1, Ordering::SeqCst) + 1
}

/// Report what the request's headers say.
#[tool(domain = "fx")]
pub(crate) async fn whoami(ctx: &Context) -> String {
    format!(
        "user={} authorization_visible={} authorization_all={} uri={}",
        ctx.headers().get("x-user").unwrap_or("none"),
        ctx.headers().get("authorization").is_some(),
        ctx.all_headers().get("authorization").is_some(),
        ctx.uri().map(ToString::to_string).unwrap_or_default()
    )
}

/// Return nothing.
#[tool(domain = "fx")]
pub(crate) fn nothing() {}

/// Return a whole result.
#[tool(domain = "fx")]
pub(crate) fn whole() -> CallToolResult {
    CallToolResult {
        is_error: false,
        ..CallToolResult::text("whole")
    }
}

/// Sleep, then answer; stops early when cancelled.
#[tool(domain = "fx")]
pub(crate) async fn slow(ctx: Context, millis: u64) -> String {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(millis)) => "done".to_owned(),
        () = ctx.cancelled() => "cancelled".to_owned(),
    }
}

/// Ignored doc comment.
#[tool(
    domain = "fx",
    name = "configured.tool-1",
    title = "Configured tool",
    description = "Every option set",
    destructive = false,
    open_world,
    icons = ["https://example.com/a.png"],
    icon(src = "https://example.com/b.svg", mime_type = "image/svg+xml", sizes = ["any"], theme = "dark"),
    meta = r#"{"example.com/owner": "tests"}"#,
    scopes = ["fx:write"],
)]
pub(crate) fn configured() -> &'static str {
    "configured"
}

/// One of two tools with the same MCP name.
#[tool(name = "same_name", domain = "dup")]
pub(crate) fn same_one() -> &'static str {
    "one"
}

/// The other tool with that name.
#[tool(name = "same_name", domain = "dup")]
pub(crate) fn same_two() -> &'static str {
    "two"
}

/// A tool that needs state nobody gives it.
#[tool(domain = "needs_state")]
pub(crate) fn needs_string(s: State<String>) -> String {
    s.to_string()
}

/// Not a tool.
pub(crate) fn plain_function() -> i64 {
    1
}

/// Report progress and log lines while working.
#[tool(domain = "fx")]
pub(crate) async fn work(
    ctx: Context,
    /// How many steps.
    steps: u32,
    /// Milliseconds between steps.
    pause_ms: Option<u64>,
) -> String {
    for i in 0..steps {
        ctx.log(LogLevel::Debug, format!("debug {i}")).await;
        ctx.log(LogLevel::Info, format!("step {i}")).await;
        ctx.progress(f64::from(i + 1), Some(f64::from(steps)), Some("working"))
            .await;
        tokio::time::sleep(Duration::from_millis(pause_ms.unwrap_or(5))).await;
    }
    format!("worked {steps} steps")
}

static CANCELLED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether the `wait_cancel` call tagged `tag` saw its cancellation.
pub(crate) fn was_cancelled(tag: &str) -> bool {
    CANCELLED.lock().unwrap().iter().any(|t| t == tag)
}

/// Wait until cancelled (at most `millis`), recording the cancellation under `tag`.
#[tool(domain = "fx")]
pub(crate) async fn wait_cancel(ctx: Context, tag: String, millis: u64) -> String {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(millis)) => "not cancelled".to_owned(),
        () = ctx.cancelled() => {
            CANCELLED.lock().unwrap().push(tag);
            "cancelled".to_owned()
        }
    }
}

/// Take longer than its timeout; records `too_slow finished` if it ever gets to the end.
#[tool(domain = "fx", timeout_ms = 50)]
pub(crate) async fn too_slow() -> String {
    tokio::time::sleep(Duration::from_millis(300)).await;
    CANCELLED
        .lock()
        .unwrap()
        .push("too_slow finished".to_owned());
    "late".to_owned()
}

/// Needs the client's sampling capability.
#[tool(domain = "fx")]
pub(crate) async fn needs_sampling(ctx: Context) -> Result<&'static str, ToolError> {
    ctx.require_client_capability("sampling")?;
    Ok("can sample")
}

/// Who is calling: the authenticated principal.
#[tool(domain = "fx")]
pub(crate) async fn principal_info(ctx: Context) -> String {
    match ctx.principal() {
        Some(p) => format!("subject={} scopes={}", p.subject, p.scopes.join(",")),
        None => "anonymous".to_owned(),
    }
}

/// Write something; needs the `fx:write` scope. Records `wrote:<tag>` when its body runs.
#[tool(domain = "fx", scopes = ["fx:write"])]
pub(crate) async fn scoped_write(tag: String) -> String {
    CANCELLED.lock().unwrap().push(format!("wrote:{tag}"));
    "written".to_owned()
}

// ---- Resources, templates, prompts and completions (domain `rx`). ----

/// The fixture project's README.
#[resource(
    domain = "rx",
    uri = "docs://readme",
    title = "README",
    mime_type = "text/markdown",
    audience = ["user"],
    priority = 0.5,
    last_modified = "2025-01-12T15:00:58Z",
    size = 10
)]
pub(crate) fn readme() -> &'static str {
    "# Fixtures"
}

/// The logo, as bytes.
#[resource(domain = "rx", uri = "docs://logo", mime_type = "image/png")]
pub(crate) fn logo() -> Vec<u8> {
    vec![0x89, b'P', b'N', b'G']
}

/// A project of the fixture store.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Project {
    /// Its id.
    pub(crate) id: i64,
    /// Its name.
    pub(crate) name: String,
}

/// A project, by id, as JSON.
#[resource(domain = "rx", uri_template = "rx://projects/{id}", complete(id = complete_project_id))]
pub(crate) async fn project(id: i64, counter: State<Counter>) -> Result<Project, RequestError> {
    counter.0.fetch_add(1, Ordering::SeqCst);
    if id == 404 {
        return Err(RequestError::not_found(format!("rx://projects/{id}")));
    }
    Ok(Project {
        id,
        name: format!("Project {id}"),
    })
}

/// Suggests project ids that start with what was typed: 150 of them in all.
pub(crate) async fn complete_project_id(_ctx: Context, req: CompletionRequest) -> Vec<String> {
    (1..=150)
        .map(|i| i.to_string())
        .filter(|s| s.starts_with(&req.value))
        .collect()
}

/// A file of the fixture tree, by path.
#[resource(domain = "rx", uri_template = "files:///{+path}")]
pub(crate) fn file(path: String) -> String {
    format!("contents of {path}")
}

/// Review a piece of code.
#[prompt(domain = "rx", title = "Code review", complete(language = complete_language))]
pub(crate) fn code_review(
    /// The code to review.
    code: String,
    /// Its language.
    language: Option<String>,
) -> Vec<PromptMessage> {
    let language = language.unwrap_or_else(|| "an unknown language".to_owned());
    vec![
        PromptMessage::user(format!("Review this code in {language}:\n{code}")),
        PromptMessage::assistant("I will look for bugs first."),
    ]
}

/// Languages that start with what was typed, given the code so far.
pub(crate) async fn complete_language(_ctx: Context, req: CompletionRequest) -> Completion {
    let mut all = vec!["python", "rust", "ruby"];
    if req.arguments.get("code").is_some_and(|c| c.contains("fn ")) {
        all.retain(|l| *l == "rust");
    }
    Completion::new(all.into_iter().filter(|l| l.starts_with(&req.value)))
}

/// A brief of one project, embedding the project resource.
#[prompt(domain = "rx")]
pub(crate) async fn project_brief(
    ctx: Context,
    /// The project's id.
    project_id: i64,
) -> Result<GetPromptResult, RequestError> {
    let uri = format!("rx://projects/{project_id}");
    let server = ctx.server();
    let client = server.client();
    let contents = client
        .read_resource(&uri)
        .await
        .map_err(|e| RequestError::invalid_params(e.message))?;
    let text = contents[0]["text"].as_str().unwrap_or_default().to_owned();
    Ok(GetPromptResult::new(vec![
        PromptMessage::user(Content::embedded_text(uri, "application/json", text)),
        PromptMessage::user("Write a one-paragraph brief of the project above."),
    ]))
}

// ---- Asking the client (domain `ask`). ----

/// A contact form.
#[derive(Deserialize, JsonSchema, Debug, Form)]
pub(crate) struct Contact {
    /// Your name.
    pub(crate) name: String,
    /// How many tickets.
    pub(crate) tickets: u8,
    /// Subscribe to news.
    #[serde(default)]
    pub(crate) news: bool,
}

/// Asks for a contact; says what happened, errors included (it handles them).
#[tool(domain = "ask")]
pub(crate) async fn ask_contact(ctx: Context) -> String {
    match ctx.elicit::<Contact>("Who are you?").await {
        Ok(Elicitation::Accept(c)) => {
            format!(
                "accepted {} with {} tickets, news={}",
                c.name, c.tickets, c.news
            )
        }
        Ok(Elicitation::Decline) => "declined".to_owned(),
        Ok(Elicitation::Cancel) => "cancelled".to_owned(),
        Err(e) => format!("error: {e}"),
    }
}

/// Asks for a contact, taking an answer sent before the question
/// ([`mcp_runtime::ask::Question::answered_up_front`]).
#[tool(domain = "ask")]
pub(crate) async fn ask_contact_up_front(ctx: Context) -> String {
    match ctx
        .ask("contact")
        .answered_up_front()
        .elicit::<Contact>("Who are you?")
        .await
    {
        Ok(Elicitation::Accept(c)) => format!("accepted {}", c.name),
        Ok(_) => "no contact".to_owned(),
        Err(e) => format!("error: {e}"),
    }
}

/// Asks the client's model, then its roots.
#[tool(domain = "ask")]
pub(crate) async fn ask_model_and_roots(ctx: Context) -> Result<String, ToolError> {
    let answer = ctx
        .sample(SamplingRequest::new("Say hi", 20))
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    let roots = ctx
        .list_roots()
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    let uris: Vec<String> = roots.into_iter().map(|r| r.uri).collect();
    Ok(format!(
        "model {} said {:?}; roots {}",
        answer.model,
        answer.text().unwrap_or_default(),
        uris.join(",")
    ))
}

/// Needs sampling, but recovers when the client lacks it.
#[tool(domain = "ask")]
pub(crate) async fn needs_sampling_or_not(ctx: Context) -> String {
    match ctx.require_client_capability("sampling") {
        Ok(()) => "has sampling".to_owned(),
        Err(_) => "went without sampling".to_owned(),
    }
}

/// Reports progress once and answers at once.
#[tool(domain = "ask")]
pub(crate) async fn quick_progress(ctx: Context) -> &'static str {
    ctx.progress(1.0, Some(1.0), None).await;
    "done"
}

/// Counts how often it ran: a handler runs again from the start in every input-required round.
pub(crate) static ROUND_RUNS: AtomicU64 = AtomicU64::new(0);

/// Asks a name and, at once, the model; then, in a second round, a color.
#[tool(domain = "ask")]
pub(crate) async fn ask_in_rounds(ctx: Context) -> Result<String, ToolError> {
    ROUND_RUNS.fetch_add(1, Ordering::SeqCst);
    let form = serde_json::json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let (name, model) = tokio::join!(
        ctx.ask("name").elicit_with_schema("Your name?", form),
        ctx.ask("model").sample(SamplingRequest::new("Say hi", 10)),
    );
    let name = name.map_err(|e| ToolError::new(e.to_string()))?;
    let model = model.map_err(|e| ToolError::new(e.to_string()))?;
    let color = ctx
        .elicit::<Color>("Your color?")
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    let name = match name {
        Elicitation::Accept(v) => v["name"].as_str().unwrap_or_default().to_owned(),
        _ => "nobody".to_owned(),
    };
    let color = match color {
        Elicitation::Accept(c) => c.color,
        _ => "none".to_owned(),
    };
    Ok(format!(
        "{name} likes {color}; the model said {}",
        model.text().unwrap_or_default()
    ))
}

/// A color form.
#[derive(Deserialize, JsonSchema, Form)]
pub(crate) struct Color {
    /// The color.
    pub(crate) color: String,
}

/// Closes its response stream at once, then asks a question and answers: the client resumes
/// with `Last-Event-ID` to see both (SEP-1699).
#[tool(domain = "ask")]
pub(crate) async fn close_then_ask(ctx: Context) -> String {
    let closed = ctx.close_stream().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    match ctx.elicit::<Contact>("Still there?").await {
        Ok(Elicitation::Accept(c)) => format!("closed={closed}; hello {}", c.name),
        Ok(_) => format!("closed={closed}; no answer"),
        Err(e) => format!("closed={closed}; error: {e}"),
    }
}

/// Asks the user to open a sign-in page, then says the flow is complete.
#[tool(domain = "ask")]
pub(crate) async fn ask_url(ctx: Context) -> String {
    match ctx
        .elicit_url("Sign in to continue", "https://example.com/login")
        .await
    {
        Ok(u) => {
            let id = u.elicitation_id.unwrap_or_default();
            let told = ctx.elicitation_complete(&id).await;
            format!("{:?} {id} told={told}", u.action)
        }
        Err(e) => format!("error: {e}"),
    }
}

/// Asks the client's model with a tool it may call.
#[tool(domain = "ask")]
pub(crate) async fn ask_with_tools(ctx: Context) -> String {
    let mut request = SamplingRequest::new("What is the weather?", 50);
    request.tools = vec![
        serde_json::json!({"name": "weather", "description": "The weather",
        "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}}}),
    ];
    match ctx.sample(request).await {
        Ok(r) => format!("content {}", r.content),
        Err(e) => format!("error: {e}"),
    }
}

/// Works inside a span of its own (a child of the request's span).
#[tool(domain = "trace")]
pub(crate) async fn traced(fail: bool) -> Result<&'static str, ToolError> {
    let _inner = tracing::info_span!("inner work").entered();
    if fail {
        return Err(ToolError::new("failed on purpose"));
    }
    Ok("traced")
}
