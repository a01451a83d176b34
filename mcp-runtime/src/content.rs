//! What a tool returns: content blocks, [`CallToolResult`], [`ToolError`], and the
//! [`IntoToolResult`] conversion behind `#[tool]` return types.

use crate::protocol::ProtocolVersion;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// One block of a tool result's `content`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Content {
    /// Text.
    Text(TextContent),
    /// An image, base64-encoded.
    Image(BinaryContent),
    /// Audio, base64-encoded (2025-03-26+).
    Audio(BinaryContent),
    /// A resource embedded in the result.
    Resource(EmbeddedResource),
    /// A link to a resource the client may read (2025-06-18+).
    ResourceLink(ResourceLink),
}

/// A text block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextContent {
    /// The text.
    pub text: String,
    /// Content annotations (`audience`, `priority`, `lastModified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// An image or audio block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BinaryContent {
    /// The base64-encoded bytes.
    pub data: String,
    /// The MIME type, e.g. `image/png`.
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    /// Content annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// An embedded resource block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedResource {
    /// The resource's contents.
    pub resource: ResourceContents,
    /// Content annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// The contents of a resource: text or a base64 blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceContents {
    /// Text contents.
    Text {
        /// The resource URI.
        uri: String,
        /// The MIME type.
        #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// The text.
        text: String,
    },
    /// Binary contents.
    Blob {
        /// The resource URI.
        uri: String,
        /// The MIME type.
        #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// The base64-encoded bytes.
        blob: String,
    },
}

/// A link to a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceLink {
    /// The resource URI.
    pub uri: String,
    /// The resource's name.
    pub name: String,
    /// A human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the resource is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The MIME type.
    #[serde(rename = "mimeType", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Content {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextContent {
            text: text.into(),
            annotations: None,
        })
    }
    /// An image block from raw bytes (encoded to base64 here).
    pub fn image(bytes: impl AsRef<[u8]>, mime_type: impl Into<String>) -> Self {
        Self::Image(BinaryContent {
            data: b64(bytes.as_ref()),
            mime_type: mime_type.into(),
            annotations: None,
        })
    }
    /// An audio block from raw bytes (encoded to base64 here).
    pub fn audio(bytes: impl AsRef<[u8]>, mime_type: impl Into<String>) -> Self {
        Self::Audio(BinaryContent {
            data: b64(bytes.as_ref()),
            mime_type: mime_type.into(),
            annotations: None,
        })
    }
    /// An embedded text resource.
    pub fn embedded_text(
        uri: impl Into<String>,
        mime_type: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self::Resource(EmbeddedResource {
            resource: ResourceContents::Text {
                uri: uri.into(),
                mime_type: Some(mime_type.into()),
                text: text.into(),
            },
            annotations: None,
        })
    }
    /// An embedded binary resource from raw bytes.
    pub fn embedded_blob(
        uri: impl Into<String>,
        mime_type: impl Into<String>,
        bytes: impl AsRef<[u8]>,
    ) -> Self {
        Self::Resource(EmbeddedResource {
            resource: ResourceContents::Blob {
                uri: uri.into(),
                mime_type: Some(mime_type.into()),
                blob: b64(bytes.as_ref()),
            },
            annotations: None,
        })
    }
    /// A resource link.
    pub fn resource_link(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Self::ResourceLink(ResourceLink {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
        })
    }

    /// The block as a client of `version` understands it: blocks newer than the revision are
    /// turned into text that says what they were.
    pub(crate) fn for_version(&self, version: ProtocolVersion) -> Cow<'_, Content> {
        match self {
            Self::Audio(a) if version < ProtocolVersion::V2025_03_26 => Cow::Owned(Content::text(
                format!("[audio content of type {} omitted]", a.mime_type),
            )),
            Self::ResourceLink(l) if !version.has_structured_output() => {
                Cow::Owned(Content::text(format!("resource: {} ({})", l.name, l.uri)))
            }
            other => Cow::Borrowed(other),
        }
    }
}

/// The result of `tools/call`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallToolResult {
    /// The content blocks.
    pub content: Vec<Content>,
    /// Structured output matching the tool's `outputSchema` (2025-06-18+).
    #[serde(
        rename = "structuredContent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub structured_content: Option<Value>,
    /// Whether the tool failed; the content says why.
    #[serde(rename = "isError", default, skip_serializing_if = "is_false")]
    pub is_error: bool,
    /// Result metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl CallToolResult {
    /// A result with these content blocks.
    pub fn new(content: Vec<Content>) -> Self {
        Self {
            content,
            ..Self::default()
        }
    }
    /// A result with one text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(vec![Content::text(text)])
    }
    /// A failed result (`isError: true`) whose text says what went wrong.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            is_error: true,
            ..Self::text(message)
        }
    }
}

/// An error a tool returns: its message becomes an `isError: true` result a person can read.
///
/// Any `std::error::Error` converts into it, so `?` works in tools that return
/// `Result<T, ToolError>`; the message includes the error's sources.
pub struct ToolError {
    message: String,
}

impl ToolError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error> From<E> for ToolError {
    fn from(e: E) -> Self {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self { message }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ToolError").field(&self.message).finish()
    }
}

/// Values a tool can return as content: text, content blocks, a whole [`CallToolResult`], or a
/// `Result` of one of these whose `Err` becomes an `isError` result.
///
/// Types that implement `Serialize + JsonSchema` need no impl: `#[tool]` returns them as
/// structured content with an `outputSchema`.
pub trait IntoToolResult {
    /// The result.
    fn into_tool_result(self) -> CallToolResult;
}

impl IntoToolResult for CallToolResult {
    fn into_tool_result(self) -> CallToolResult {
        self
    }
}
impl IntoToolResult for String {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}
impl IntoToolResult for &str {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}
impl IntoToolResult for Cow<'_, str> {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}
impl IntoToolResult for () {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::new(Vec::new())
    }
}
impl IntoToolResult for Content {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::new(vec![self])
    }
}
impl IntoToolResult for Vec<Content> {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::new(self)
    }
}
impl<T: IntoToolResult, E: fmt::Display> IntoToolResult for Result<T, E> {
    fn into_tool_result(self) -> CallToolResult {
        match self {
            Ok(v) => v.into_tool_result(),
            Err(e) => CallToolResult::error(e.to_string()),
        }
    }
}

/// Who a message or a piece of content is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person using the client.
    User,
    /// The model.
    Assistant,
}

/// An error of a resource, prompt or completion function: answered as a JSON-RPC error.
///
/// [`RequestError::not_found`] becomes the revision's "resource not found" error; any
/// `std::error::Error` (and [`ToolError`]) converts into an internal error, so `?` works.
#[derive(Clone, PartialEq)]
pub struct RequestError {
    pub(crate) kind: RequestErrorKind,
    pub(crate) message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RequestErrorKind {
    NotFound(String),
    InvalidParams,
    Internal,
    /// Another server's error, passed on as it is.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Rpc(crate::protocol::RpcError),
}

impl RequestError {
    /// The resource `uri` does not exist (or is not visible to this caller).
    pub fn not_found(uri: impl Into<String>) -> Self {
        let uri = uri.into();
        Self {
            message: format!("resource not found: `{}`", crate::bounds::shown(&uri)),
            kind: RequestErrorKind::NotFound(uri),
        }
    }
    /// The request's parameters are wrong (-32602); the message says how.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self {
            kind: RequestErrorKind::InvalidParams,
            message: message.into(),
        }
    }
    /// The server failed (-32603); the message says how.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: RequestErrorKind::Internal,
            message: message.into(),
        }
    }
    /// Another server's JSON-RPC error, answered as it is (code, message, data).
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn from_rpc(error: crate::protocol::RpcError) -> Self {
        Self {
            message: error.message.clone(),
            kind: RequestErrorKind::Rpc(error),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON-RPC error for a client of `version`: "resource not found" is -32002 in the
    /// handshake era and -32602 from 2026-07-28 on, with the URI in `data` both times.
    pub(crate) fn to_rpc(&self, version: ProtocolVersion) -> crate::protocol::RpcError {
        use crate::protocol::code;
        match &self.kind {
            RequestErrorKind::NotFound(uri) => {
                let code = if version.is_stateless() {
                    code::INVALID_PARAMS
                } else {
                    code::RESOURCE_NOT_FOUND
                };
                crate::protocol::RpcError::new(code, self.message.clone())
                    .with_data(serde_json::json!({ "uri": crate::bounds::shown(uri).json() }))
            }
            RequestErrorKind::InvalidParams => {
                crate::protocol::RpcError::new(code::INVALID_PARAMS, self.message.clone())
            }
            RequestErrorKind::Internal => {
                crate::protocol::RpcError::new(code::INTERNAL_ERROR, self.message.clone())
            }
            RequestErrorKind::Rpc(e) => e.clone(),
        }
    }
}

impl<E: std::error::Error> From<E> for RequestError {
    fn from(e: E) -> Self {
        Self::internal(ToolError::from(e).message)
    }
}

impl From<ToolError> for RequestError {
    fn from(e: ToolError) -> Self {
        Self::internal(e.message)
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

/// One message of a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// Who says it.
    pub role: Role,
    /// What is said: text, an image, audio, an embedded resource or a resource link.
    pub content: Content,
}

impl PromptMessage {
    /// A message from the user.
    pub fn user(content: impl Into<Content>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
    /// A message from the assistant.
    pub fn assistant(content: impl Into<Content>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

impl From<String> for Content {
    fn from(text: String) -> Self {
        Content::text(text)
    }
}

impl From<&str> for Content {
    fn from(text: &str) -> Self {
        Content::text(text)
    }
}

/// The result of `prompts/get`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GetPromptResult {
    /// What the prompt is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The messages.
    pub messages: Vec<PromptMessage>,
    /// Result metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
}

impl GetPromptResult {
    /// A result with these messages.
    pub fn new(messages: Vec<PromptMessage>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }
}

/// Values a prompt function can return: text (one user message), messages, a whole
/// [`GetPromptResult`], or a `Result` of one of these whose error is an [`RequestError`] (or
/// converts into one).
pub trait IntoPromptResult {
    /// The result, or the error to answer with.
    fn into_prompt_result(self) -> Result<GetPromptResult, RequestError>;
}

impl IntoPromptResult for GetPromptResult {
    fn into_prompt_result(self) -> Result<GetPromptResult, RequestError> {
        Ok(self)
    }
}
impl IntoPromptResult for String {
    fn into_prompt_result(self) -> Result<GetPromptResult, RequestError> {
        Ok(GetPromptResult::new(vec![PromptMessage::user(self)]))
    }
}
impl IntoPromptResult for &str {
    fn into_prompt_result(self) -> Result<GetPromptResult, RequestError> {
        Ok(GetPromptResult::new(vec![PromptMessage::user(self)]))
    }
}
impl IntoPromptResult for PromptMessage {
    fn into_prompt_result(self) -> Result<GetPromptResult, RequestError> {
        Ok(GetPromptResult::new(vec![self]))
    }
}
impl IntoPromptResult for Vec<PromptMessage> {
    fn into_prompt_result(self) -> Result<GetPromptResult, RequestError> {
        Ok(GetPromptResult::new(self))
    }
}
impl<T: IntoPromptResult, E: Into<RequestError>> IntoPromptResult for Result<T, E> {
    fn into_prompt_result(self) -> Result<GetPromptResult, RequestError> {
        self.map_err(Into::into)?.into_prompt_result()
    }
}

impl ResourceContents {
    /// Text contents of `uri`.
    pub fn text(uri: impl Into<String>, mime_type: Option<&str>, text: impl Into<String>) -> Self {
        Self::Text {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            text: text.into(),
        }
    }
    /// Binary contents of `uri` (base64 on the wire).
    pub fn blob(uri: impl Into<String>, mime_type: Option<&str>, bytes: impl AsRef<[u8]>) -> Self {
        Self::Blob {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            blob: b64(bytes.as_ref()),
        }
    }
    /// The URI.
    pub fn uri(&self) -> &str {
        match self {
            Self::Text { uri, .. } | Self::Blob { uri, .. } => uri,
        }
    }
}

/// What a resource read answers with: the URI read and the resource's declared MIME type fill
/// in what a plain value leaves out.
#[doc(hidden)]
pub struct ReadTarget<'a> {
    pub uri: &'a str,
    pub mime_type: Option<&'a str>,
}

/// Values a resource function can return: text (`String`, `&str`), bytes (`Vec<u8>`,
/// `bytes::Bytes`; base64 on the wire), explicit [`ResourceContents`] (one or several), or a
/// `Result` of one of these. Types that implement `Serialize` need no impl: `#[resource]` sends
/// them as JSON text (`application/json`).
pub trait IntoResourceContents {
    /// The contents of the resource read at `target`.
    #[doc(hidden)]
    fn into_contents(self, target: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError>;
}

impl IntoResourceContents for String {
    fn into_contents(self, t: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError> {
        Ok(vec![ResourceContents::text(
            t.uri,
            Some(t.mime_type.unwrap_or("text/plain")),
            self,
        )])
    }
}
impl IntoResourceContents for &str {
    fn into_contents(self, t: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError> {
        self.to_owned().into_contents(t)
    }
}
impl IntoResourceContents for Vec<u8> {
    fn into_contents(self, t: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError> {
        Ok(vec![ResourceContents::blob(
            t.uri,
            Some(t.mime_type.unwrap_or("application/octet-stream")),
            self,
        )])
    }
}
impl IntoResourceContents for bytes::Bytes {
    fn into_contents(self, t: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError> {
        Ok(vec![ResourceContents::blob(
            t.uri,
            Some(t.mime_type.unwrap_or("application/octet-stream")),
            self,
        )])
    }
}
impl IntoResourceContents for ResourceContents {
    fn into_contents(self, _: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError> {
        Ok(vec![self])
    }
}
impl IntoResourceContents for Vec<ResourceContents> {
    fn into_contents(self, _: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError> {
        Ok(self)
    }
}
impl<T: IntoResourceContents, E: Into<RequestError>> IntoResourceContents for Result<T, E> {
    fn into_contents(self, t: &ReadTarget<'_>) -> Result<Vec<ResourceContents>, RequestError> {
        self.map_err(Into::into)?.into_contents(t)
    }
}

/// A value sent as JSON text: the fallback for `Serialize` return types of `#[resource]`.
pub(crate) fn json_contents<T: Serialize>(
    value: &T,
    t: &ReadTarget<'_>,
) -> Result<Vec<ResourceContents>, RequestError> {
    let text = serde_json::to_string(value).map_err(|e| {
        RequestError::internal(format!("the resource could not be serialized: {e}"))
    })?;
    Ok(vec![ResourceContents::text(
        t.uri,
        Some(t.mime_type.unwrap_or("application/json")),
        text,
    )])
}
