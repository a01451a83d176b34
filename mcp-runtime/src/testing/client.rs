//! [`Client`]: an in-memory JSON-RPC client of a [`Server`](crate::Server), for tests and for
//! calling a server from the same process.

use crate::content::CallToolResult;
use crate::core::RequestEnv;
use crate::core::peer::Peer;
use crate::protocol::{ProtocolVersion, RpcError, code};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::server::Server;
use tokio_util::sync::CancellationToken;

/// An in-memory JSON-RPC client of a [`Server`]: messages go through the same parsing and
/// dispatch as over HTTP, with no socket. It is one peer: `initialize` and
/// `logging/setLevel` are remembered across its requests.
pub struct Client {
    server: Server,
    peer: Arc<Peer>,
    next_id: std::sync::atomic::AtomicI64,
}

impl Client {
    /// Sends one JSON-RPC message (as text) and returns the response text, if any.
    pub async fn send_raw(&self, message: &str) -> Option<String> {
        let env = RequestEnv::new(
            None,
            self.peer.clone(),
            CancellationToken::new(),
            crate::core::Profile::IN_PROCESS,
        );
        let reply = self
            .server
            .shared
            .handle_bytes(message.as_bytes(), env)
            .await?;
        Some(String::from_utf8(reply.body).expect("responses are UTF-8"))
    }

    /// Sends a request and returns its result or error.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let text = self
            .send_raw(&msg.to_string())
            .await
            .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "no response"))?;
        let mut v: Value = serde_json::from_str(&text).expect("responses are JSON");
        if let Some(e) = v.get_mut("error") {
            return Err(serde_json::from_value(e.take()).expect("error objects parse"));
        }
        Ok(v["result"].take())
    }

    /// A list method (`tools/list`, `resources/list`, …), following every page; returns the
    /// items under `field`.
    async fn list_all(&self, method: &str, field: &str) -> Result<Vec<Value>, RpcError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let mut page = self.request(method, params).await?;
            if let Value::Array(items) = page[field].take() {
                out.extend(items);
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// `tools/list`, following every page.
    pub async fn list_tools(&self) -> Result<Vec<Value>, RpcError> {
        self.list_all("tools/list", "tools").await
    }

    /// `resources/list`, following every page.
    pub async fn list_resources(&self) -> Result<Vec<Value>, RpcError> {
        self.list_all("resources/list", "resources").await
    }

    /// `resources/templates/list`, following every page.
    pub async fn list_resource_templates(&self) -> Result<Vec<Value>, RpcError> {
        self.list_all("resources/templates/list", "resourceTemplates")
            .await
    }

    /// `prompts/list`, following every page.
    pub async fn list_prompts(&self) -> Result<Vec<Value>, RpcError> {
        self.list_all("prompts/list", "prompts").await
    }

    /// `tools/call`.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, RpcError> {
        let v = self
            .request(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await?;
        serde_json::from_value(v)
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("bad result: {e}")))
    }

    /// `resources/read`: the `contents`.
    pub async fn read_resource(&self, uri: &str) -> Result<Vec<Value>, RpcError> {
        let mut v = self
            .request("resources/read", json!({ "uri": uri }))
            .await?;
        Ok(match v["contents"].take() {
            Value::Array(c) => c,
            _ => Vec::new(),
        })
    }

    /// `prompts/get`.
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<crate::content::GetPromptResult, RpcError> {
        let v = self
            .request(
                "prompts/get",
                json!({ "name": name, "arguments": arguments }),
            )
            .await?;
        serde_json::from_value(v)
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("bad result: {e}")))
    }
}

impl Server {
    /// An in-memory client that speaks JSON-RPC to this server, for tests of a whole exchange.
    pub fn client(&self) -> Client {
        Client {
            server: self.clone(),
            peer: Peer::new(ProtocolVersion::LATEST_HANDSHAKE, None, None),
            next_id: std::sync::atomic::AtomicI64::new(1),
        }
    }
}
