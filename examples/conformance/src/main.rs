//! Run with: cargo run -p example-conformance (or `-- --stdio` for the stdio transport)
//!
//! An unauthenticated MCP server at `http://HOST:PORT/mcp` (default 127.0.0.1:3000) carrying the
//! fixture tools that the server scenarios of the official conformance suite
//! (`@modelcontextprotocol/conformance`) call. `.ci/run` runs the suite against it.

use axum::Router;
use axum::serve::ListenerExt as _;
use mcp_runtime::{
    Content, Context, Form, McpRouterExt as _, McpServer, ToolError, Transport, ask::Elicitation,
    ask::SamplingRequest, catalog::Completion, catalog::CompletionRequest, catalog::Prompt,
    catalog::Tool, content::CallToolResult, content::PromptMessage, content::ResourceContents,
    context::LogLevel, http::HttpOptions, http::OriginPolicy, prompt, resource, tool,
};
use serde_json::json;
use std::time::Duration;

/// A 1×1 transparent PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A minimal WAV file: a RIFF header and no samples.
const WAV: &[u8] = &[
    b'R', b'I', b'F', b'F', 36, 0, 0, 0, b'W', b'A', b'V', b'E', b'f', b'm', b't', b' ', 16, 0, 0,
    0, 1, 0, 1, 0, 0x44, 0xac, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0, b'd', b'a', b't', b'a', 0, 0,
    0, 0,
];

/// Routes by region: the `region` argument also travels as the `Mcp-Param-Region` header
/// (SEP-2243), which the server checks against the body.
#[tool(domain = "conformance")]
fn test_custom_header(
    /// The region the request is routed to.
    #[header("Region")]
    region: String,
) -> String {
    format!("routed to {region}")
}

/// Returns a simple text response.
#[tool(domain = "conformance")]
fn test_simple_text() -> &'static str {
    "This is a simple text response for testing."
}

/// Returns an image.
#[tool(domain = "conformance")]
fn test_image_content() -> Content {
    Content::image(PNG, "image/png")
}

/// Returns audio.
#[tool(domain = "conformance")]
fn test_audio_content() -> Content {
    Content::audio(WAV, "audio/wav")
}

/// Returns an embedded resource.
#[tool(domain = "conformance")]
fn test_embedded_resource() -> Content {
    Content::embedded_text(
        "test://embedded-resource",
        "text/plain",
        "This is an embedded resource content.",
    )
}

/// Returns text, an image and a resource.
#[tool(domain = "conformance")]
fn test_multiple_content_types() -> Vec<Content> {
    vec![
        Content::text("Multiple content types test:"),
        Content::image(PNG, "image/png"),
        Content::embedded_text(
            "test://mixed-content-resource",
            "application/json",
            r#"{"test":"data","value":123}"#,
        ),
    ]
}

/// Sends log messages while it runs.
#[tool(domain = "conformance")]
async fn test_tool_with_logging(ctx: Context) -> &'static str {
    for message in [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ] {
        ctx.log(LogLevel::Info, message).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    "Tool with logging executed successfully"
}

/// Reports progress while it runs.
#[tool(domain = "conformance")]
async fn test_tool_with_progress(ctx: Context) -> &'static str {
    for step in [0.0, 50.0, 100.0] {
        ctx.progress(
            step,
            Some(100.0),
            Some(&format!("Completed step {step} of 100")),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    "Tool with progress executed successfully"
}

/// Fails on purpose.
#[tool(domain = "conformance")]
fn test_error_handling() -> CallToolResult {
    CallToolResult::error("This tool intentionally returns an error for testing")
}

/// Needs the client's sampling capability: a client without it gets -32021.
#[tool(domain = "conformance")]
async fn test_missing_capability(ctx: Context) -> Result<&'static str, ToolError> {
    ctx.require_client_capability("sampling")?;
    Ok("the client declared sampling")
}

/// Logs only when the request asked for a level.
#[tool(domain = "conformance")]
async fn test_logging_tool(ctx: Context) -> &'static str {
    ctx.log(LogLevel::Info, "a log message").await;
    "logged"
}

/// Adds `test_dynamic_tool`, or removes it when it is there: the tool list changes and
/// listening clients are told.
#[tool(domain = "conformance")]
fn test_trigger_tool_change(ctx: Context) -> Result<String, ToolError> {
    let added = ctx
        .server()
        .change(|c| {
            if c.remove_tool("test_dynamic_tool") {
                false
            } else {
                c.add_tool(
                    Tool::new("test_dynamic_tool", |_, _| async { "dynamic" })
                        .description("A tool added at run time"),
                );
                true
            }
        })
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(format!(
        "test_dynamic_tool {}",
        if added { "added" } else { "removed" }
    ))
}

/// Adds `test_dynamic_prompt`, or removes it when it is there.
#[tool(domain = "conformance")]
fn test_trigger_prompt_change(ctx: Context) -> Result<String, ToolError> {
    let added = ctx
        .server()
        .change(|c| {
            if c.remove_prompt("test_dynamic_prompt") {
                false
            } else {
                c.add_prompt(
                    Prompt::new("test_dynamic_prompt", |_, _| async {
                        "A prompt added at run time."
                    })
                    .description("A prompt added at run time"),
                );
                true
            }
        })
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(format!(
        "test_dynamic_prompt {}",
        if added { "added" } else { "removed" }
    ))
}

/// A static text resource.
#[resource(
    domain = "conformance",
    uri = "test://static-text",
    name = "Static Text Resource",
    mime_type = "text/plain"
)]
fn static_text() -> &'static str {
    "This is the content of the static text resource."
}

/// A static binary resource (a PNG image).
#[resource(
    domain = "conformance",
    uri = "test://static-binary",
    name = "Static Binary Resource",
    mime_type = "image/png"
)]
fn static_binary() -> Vec<u8> {
    PNG.to_vec()
}

/// A resource that changes: clients may subscribe to it.
#[resource(
    domain = "conformance",
    uri = "test://watched-resource",
    name = "Watched Resource",
    mime_type = "text/plain"
)]
fn watched_resource() -> &'static str {
    "Watched resource content"
}

/// The data of one id.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateData {
    id: String,
    template_test: bool,
    data: String,
}

/// A resource template with an `id` variable.
#[resource(
    domain = "conformance",
    uri_template = "test://template/{id}/data",
    name = "Resource Template",
    mime_type = "application/json",
    complete(id = complete_id)
)]
fn template_data(id: String) -> TemplateData {
    TemplateData {
        data: format!("Data for ID: {id}"),
        id,
        template_test: true,
    }
}

/// Ids that start with what was typed.
async fn complete_id(_ctx: Context, req: CompletionRequest) -> Vec<String> {
    ["123", "456", "789"]
        .into_iter()
        .filter(|id| id.starts_with(&req.value))
        .map(str::to_owned)
        .collect()
}

/// A simple prompt without arguments.
#[prompt(domain = "conformance")]
fn test_simple_prompt() -> &'static str {
    "This is a simple prompt for testing."
}

/// A prompt with two arguments.
#[prompt(domain = "conformance", complete(arg1 = complete_arg1))]
fn test_prompt_with_arguments(
    /// The first argument.
    arg1: String,
    /// The second argument.
    arg2: String,
) -> String {
    format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")
}

/// Suggestions for `arg1`.
async fn complete_arg1(_ctx: Context, req: CompletionRequest) -> Completion {
    Completion::new(
        ["paris", "park", "test", "testing"]
            .into_iter()
            .filter(|v| v.starts_with(&req.value)),
    )
}

/// A prompt that embeds a resource.
#[prompt(domain = "conformance")]
fn test_prompt_with_embedded_resource(
    /// The URI of the resource to embed.
    #[serde(rename = "resourceUri")]
    resource_uri: String,
) -> Vec<PromptMessage> {
    let uri = resource_uri;
    vec![
        PromptMessage::user(Content::Resource(mcp_runtime::content::EmbeddedResource {
            resource: ResourceContents::text(
                uri,
                Some("text/plain"),
                "Embedded resource content for testing.",
            ),
            annotations: None,
        })),
        PromptMessage::user("Please process the embedded resource above."),
    ]
}

/// A prompt with an image.
#[prompt(domain = "conformance")]
fn test_prompt_with_image() -> Vec<PromptMessage> {
    vec![
        PromptMessage::user(Content::image(PNG, "image/png")),
        PromptMessage::user("Please analyze the image above."),
    ]
}

/// Asks the client's model to answer `prompt`.
#[tool(domain = "conformance")]
async fn test_sampling(
    ctx: Context,
    /// What to ask the model.
    prompt: String,
) -> Result<String, ToolError> {
    let answer = ctx
        .sample(SamplingRequest::new(prompt, 100))
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(format!(
        "LLM response: {}",
        answer.text().unwrap_or_default()
    ))
}

/// Asks the user for their name and email.
#[tool(domain = "conformance")]
async fn test_elicitation(
    ctx: Context,
    /// What to tell the user.
    message: String,
) -> Result<String, ToolError> {
    let schema = json!({
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"}
        },
        "required": ["username", "email"]
    });
    let answer = ctx
        .elicit_with_schema(&message, schema)
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(match answer {
        Elicitation::Accept(values) => format!("User response: accept {}", json!(values)),
        Elicitation::Decline => "User response: decline".to_owned(),
        Elicitation::Cancel => "User response: cancel".to_owned(),
    })
}

/// A user's status (variants without doc comments: an untitled enum).
#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, Debug, Default, Form)]
#[serde(rename_all = "lowercase")]
enum Status {
    #[default]
    Active,
    Inactive,
    Pending,
}

fn john_doe() -> String {
    "John Doe".into()
}
fn thirty() -> i64 {
    30
}
fn score() -> f64 {
    95.5
}
fn yes() -> bool {
    true
}

/// A profile form whose every field has a default (SEP-1034), made from a Rust type.
#[derive(serde::Deserialize, schemars::JsonSchema, Debug, Form)]
struct Profile {
    /// User name
    #[serde(default = "john_doe")]
    name: String,
    /// User age
    #[serde(default = "thirty")]
    age: i64,
    /// User score
    #[serde(default = "score")]
    score: f64,
    /// User status
    #[serde(default)]
    status: Status,
    /// Verification status
    #[serde(default = "yes")]
    verified: bool,
}

/// Asks for a profile whose fields have defaults.
#[tool(domain = "conformance")]
async fn test_elicitation_sep1034_defaults(ctx: Context) -> Result<String, ToolError> {
    let answer = ctx
        .elicit::<Profile>("Please review and update the form fields with defaults")
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(match answer {
        Elicitation::Accept(p) => format!(
            "Elicitation completed: name={}, age={}, score={}, status={:?}, verified={}",
            p.name, p.age, p.score, p.status, p.verified
        ),
        other => format!("Elicitation completed: {other:?}"),
    })
}

/// Asks with every enum form of SEP-1330.
#[tool(domain = "conformance")]
async fn test_elicitation_sep1330_enums(ctx: Context) -> Result<String, ToolError> {
    let schema = json!({
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "description": "Choose an option",
                "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "description": "Choose a titled option",
                "oneOf": [{"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"}]},
            "legacyEnum": {"type": "string", "description": "Choose a legacy option",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "description": "Choose multiple options",
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "description": "Choose multiple titled options",
                "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"}]}}
        },
        "required": []
    });
    let answer = ctx
        .elicit_with_schema("Please select options from the enum fields", schema)
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(format!("Elicitation completed: {answer:?}"))
}

/// A form with one string field.
fn one_field(field: &str, ty: &str) -> serde_json::Value {
    json!({"type": "object", "properties": {field: {"type": ty}}, "required": [field]})
}

/// A field of an accepted form, as text.
fn accepted(
    answer: &Elicitation<serde_json::Map<String, serde_json::Value>>,
    field: &str,
) -> String {
    match answer {
        Elicitation::Accept(values) => match &values[field] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        Elicitation::Decline => "(declined)".to_owned(),
        Elicitation::Cancel => "(cancelled)".to_owned(),
    }
}

fn asked<T>(r: Result<T, mcp_runtime::ask::AskError>) -> Result<T, ToolError> {
    r.map_err(|e| ToolError::new(e.to_string()))
}

// ---- tasks (the io.modelcontextprotocol/tasks extension of 2026-07-28) ----

/// Greets someone, at once (never a task).
#[tool(domain = "conformance")]
fn greet(
    /// Whom to greet.
    name: String,
) -> String {
    format!("Hello, {name}!")
}

/// Computes for `seconds` seconds (as a task when the client takes tasks); stops when cancelled.
#[tool(domain = "conformance", task = "optional")]
async fn slow_compute(
    ctx: Context,
    /// How long to work.
    seconds: u64,
    /// A label for the result.
    label: Option<String>,
) -> String {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
        () = ctx.cancelled() => return "cancelled".to_owned(),
    }
    format!("computed {} after {seconds} s", label.unwrap_or_default())
}

/// Works for a second, then fails with a tool error (only as a task).
#[tool(domain = "conformance", task = "required")]
async fn failing_job() -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Err(ToolError::new("the job failed"))
}

/// Fails at the protocol level (a panic inside a task is a failed task).
#[tool(domain = "conformance", task = "optional")]
async fn protocol_error_job() -> String {
    tokio::time::sleep(Duration::from_millis(100)).await;
    panic!("the job broke")
}

/// Asks the user to confirm, then deletes (as a task: the question makes it input_required).
#[tool(domain = "conformance", task = "optional")]
async fn confirm_delete(
    ctx: Context,
    /// What to delete.
    item: Option<String>,
) -> Result<String, ToolError> {
    let item = item.unwrap_or_else(|| "the item".into());
    // Looks the item up first: from this wait on, the call is a task, and the question below
    // makes the task input_required.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let answer = asked(
        ctx.ask("confirm")
            .elicit_with_schema(&format!("Delete {item}?"), one_field("confirm", "boolean"))
            .await,
    )?;
    Ok(format!("delete {item}: {}", accepted(&answer, "confirm")))
}

/// Asks two questions at once (two pending inputs while it waits).
#[tool(domain = "conformance", task = "optional")]
async fn multi_input(ctx: Context) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (first, second) = tokio::join!(
        ctx.ask("first")
            .elicit_with_schema("First name?", one_field("name", "string")),
        ctx.ask("second")
            .elicit_with_schema("Second name?", one_field("name", "string")),
    );
    let (first, second) = (asked(first)?, asked(second)?);
    Ok(format!(
        "first={}, second={}",
        accepted(&first, "name"),
        accepted(&second, "name")
    ))
}

/// Asks the user's name in an input-required round, then works on as a task (the call becomes
/// a task once it waits on its work).
#[tool(domain = "conformance", task = "required")]
async fn test_tool_with_task(ctx: Context) -> Result<String, ToolError> {
    let answer = asked(
        ctx.ask("user_name")
            .elicit_with_schema("What is your name?", one_field("name", "string"))
            .await,
    )?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(format!(
        "Hello, {}! (from a task)",
        accepted(&answer, "name")
    ))
}

/// Asks the user's name (2026-07-28: an input-required round). A name proves nothing, so an
/// answer sent before the question is taken (the suite sends one with the first call).
#[tool(domain = "conformance")]
async fn test_input_required_result_elicitation(ctx: Context) -> Result<String, ToolError> {
    let answer = asked(
        ctx.ask("user_name")
            .answered_up_front()
            .elicit_with_schema("What is your name?", one_field("name", "string"))
            .await,
    )?;
    Ok(format!("Hello, {}!", accepted(&answer, "name")))
}

/// Asks the client's model a question.
#[tool(domain = "conformance")]
async fn test_input_required_result_sampling(ctx: Context) -> Result<String, ToolError> {
    let answer = asked(
        ctx.ask("capital_question")
            .sample(SamplingRequest::new("What is the capital of France?", 100))
            .await,
    )?;
    Ok(format!(
        "The model answered: {}",
        answer.text().unwrap_or_default()
    ))
}

/// Asks for the client's roots.
#[tool(domain = "conformance")]
async fn test_input_required_result_list_roots(ctx: Context) -> Result<String, ToolError> {
    let roots = asked(ctx.ask("client_roots").list_roots().await)?;
    let uris: Vec<String> = roots.into_iter().map(|r| r.uri).collect();
    Ok(format!("The client's roots: {}", uris.join(", ")))
}

/// Asks for a confirmation; the answer comes back with the sealed request state.
#[tool(domain = "conformance")]
async fn test_input_required_result_request_state(ctx: Context) -> Result<String, ToolError> {
    let answer = asked(
        ctx.ask("confirm")
            .elicit_with_schema("Please confirm", one_field("ok", "boolean"))
            .await,
    )?;
    Ok(format!("state-ok: confirmed={}", accepted(&answer, "ok")))
}

/// Like `test_input_required_result_request_state`: a changed state is refused.
#[tool(domain = "conformance")]
async fn test_input_required_result_tampered_state(ctx: Context) -> Result<String, ToolError> {
    let answer = asked(
        ctx.ask("confirm")
            .elicit_with_schema("Please confirm", one_field("ok", "boolean"))
            .await,
    )?;
    Ok(format!("state-ok: confirmed={}", accepted(&answer, "ok")))
}

/// Asks three things at once: one round with three input requests.
#[tool(domain = "conformance")]
async fn test_input_required_result_multiple_inputs(ctx: Context) -> Result<String, ToolError> {
    let (name, greeting, roots) = tokio::join!(
        ctx.ask("user_name")
            .elicit_with_schema("What is your name?", one_field("name", "string")),
        ctx.ask("greeting")
            .sample(SamplingRequest::new("Generate a greeting", 50)),
        ctx.ask("client_roots").list_roots(),
    );
    let (name, greeting, roots) = (asked(name)?, asked(greeting)?, asked(roots)?);
    Ok(format!(
        "{} {}; {} roots",
        greeting.text().unwrap_or_default(),
        accepted(&name, "name"),
        roots.len()
    ))
}

/// Asks in two rounds.
#[tool(domain = "conformance")]
async fn test_input_required_result_multi_round(ctx: Context) -> Result<String, ToolError> {
    let name = asked(
        ctx.ask("step1")
            .elicit_with_schema("Step 1: What is your name?", one_field("name", "string"))
            .await,
    )?;
    let color = asked(
        ctx.ask("step2")
            .elicit_with_schema(
                "Step 2: What is your favorite color?",
                one_field("color", "string"),
            )
            .await,
    )?;
    Ok(format!(
        "{} likes {}",
        accepted(&name, "name"),
        accepted(&color, "color")
    ))
}

/// Asks only what the client declared.
#[tool(domain = "conformance")]
async fn test_input_required_result_capabilities(ctx: Context) -> String {
    let (sampled, elicited) = tokio::join!(
        ctx.ask("sampling_request")
            .sample(SamplingRequest::new("Say hello", 20)),
        ctx.ask("elicitation_request")
            .elicit_with_schema("What is your name?", one_field("name", "string")),
    );
    format!(
        "sampling: {}; elicitation: {}",
        sampled.map_or_else(
            |e| e.to_string(),
            |s| s.text().unwrap_or_default().to_owned()
        ),
        elicited.map_or_else(|e| e.to_string(), |a| accepted(&a, "name"))
    )
}

/// Asks the user while streaming: in 2026-07-28 the question is an input-required result,
/// never a request on the stream.
#[tool(domain = "conformance")]
async fn test_streaming_elicitation(ctx: Context) -> Result<String, ToolError> {
    ctx.progress(0.0, Some(1.0), Some("about to ask")).await;
    let answer = asked(
        ctx.elicit_with_schema("What is your name?", one_field("name", "string"))
            .await,
    )?;
    Ok(format!("Hello, {}!", accepted(&answer, "name")))
}

/// A prompt that needs the user's input first.
#[prompt(domain = "conformance")]
async fn test_input_required_result_prompt(
    ctx: Context,
) -> Result<String, mcp_runtime::RequestError> {
    let answer = ctx
        .ask("user_context")
        .elicit_with_schema(
            "What context should the prompt use?",
            one_field("context", "string"),
        )
        .await
        .map_err(|e| mcp_runtime::RequestError::internal(e.to_string()))?;
    Ok(format!(
        "Write with this context in mind: {}",
        accepted(&answer, "context")
    ))
}

/// Closes its SSE stream mid-call; the result arrives on the stream the client resumes with
/// `Last-Event-ID` (SEP-1699).
#[tool(domain = "conformance")]
async fn test_reconnection(ctx: Context) -> &'static str {
    ctx.close_stream().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    "Reconnection test completed"
}

/// A tool whose input schema uses JSON Schema 2020-12 keywords, which must reach clients intact.
fn json_schema_tool() -> Tool {
    Tool::new("json_schema_2020_12_tool", |_ctx, _args| async { "ok" })
        .description("Tool with JSON Schema 2020-12 features")
        .input_schema(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
                }
            },
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/address"},
                "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                "phone": {"type": "string"},
                "email": {"type": "string"}
            },
            "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
            "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
            "then": {"required": ["phone"]},
            "else": {"required": ["email"]},
            "additionalProperties": false
        }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let server = McpServer::new("conformance-fixtures")
        .version("1.0.0")
        .domain("conformance")
        .add_tool(json_schema_tool());
    // `--stdio`: every fixture on stdin/stdout.
    if std::env::args().any(|a| a == "--stdio") {
        server.build()?.serve_stdio().await?;
        return Ok(());
    }
    // A local server: only loopback hosts, against DNS rebinding. Served by `axum::serve`,
    // whose graceful shutdown starts the mount's: its streams end when Ctrl-C comes.
    let shutdown = mcp_runtime::Shutdown::new();
    let options = HttpOptions::default()
        .origins(OriginPolicy::local())
        .streams(|s| s.retry(Duration::from_millis(500)))
        .shutdown_on(shutdown.clone());
    let app = Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, options),
    );
    let listener = tokio::net::TcpListener::bind(format!("{host}:{port}")).await?;
    println!("listening on http://{}/mcp", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.signal(async {
        let _ = tokio::signal::ctrl_c().await;
    }))
    .await?;
    Ok(())
}
