//! MCP Apps (the `io.modelcontextprotocol/ui` extension, `ext-apps` specification
//! 2026-01-26): an interactive HTML page (`ui://…`, `text/html;profile=mcp-app`) a host renders
//! in a sandboxed frame next to a tool's result. The tool names it in `_meta.ui.resourceUri`;
//! the page talks to the host with the extension's messages (`ui/initialize`, `tools/call`,
//! `ui/message`, …) over `postMessage`. The resource's `_meta.ui` says what the host's
//! Content-Security-Policy must allow and which permissions the frame needs.

use super::resource::Resource;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The extension's identifier, in `capabilities.extensions`.
pub(crate) const EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The MIME type of an app's HTML.
pub(crate) const MIME_TYPE: &str = "text/html;profile=mcp-app";

/// The origins an app's page may use beyond itself; the host builds its frame's
/// Content-Security-Policy from them. Empty lists (the default) allow nothing: no connection,
/// no outside script, style, image or frame.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UiCsp {
    /// Origins the page may connect to (`fetch`, WebSocket): `connect-src`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_domains: Vec<String>,
    /// Origins of scripts, styles, images, fonts and media: `script-src`, `style-src`, ….
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_domains: Vec<String>,
    /// Origins the page may frame: `frame-src`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frame_domains: Vec<String>,
    /// Origins allowed as the document's base URI: `base-uri`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub base_uri_domains: Vec<String>,
}

impl UiCsp {
    /// Allows nothing beyond the page itself.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds origins the page may connect to.
    #[must_use]
    pub fn connect<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.connect_domains
            .extend(origins.into_iter().map(Into::into));
        self
    }
    /// Adds origins the page may load scripts, styles, images, fonts and media from.
    #[must_use]
    pub fn resources<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.resource_domains
            .extend(origins.into_iter().map(Into::into));
        self
    }
    /// Adds origins the page may frame.
    #[must_use]
    pub fn frames<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.frame_domains
            .extend(origins.into_iter().map(Into::into));
        self
    }
    /// Adds origins allowed as the document's base URI.
    #[must_use]
    pub fn base_uris<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
        self.base_uri_domains
            .extend(origins.into_iter().map(Into::into));
        self
    }
    fn is_empty(&self) -> bool {
        self.connect_domains.is_empty()
            && self.resource_domains.is_empty()
            && self.frame_domains.is_empty()
            && self.base_uri_domains.is_empty()
    }
}

/// The browser permissions an app's frame asks the host for (none by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UiPermissions {
    /// The camera.
    pub camera: bool,
    /// The microphone.
    pub microphone: bool,
    /// The location.
    pub geolocation: bool,
    /// Writing to the clipboard.
    pub clipboard_write: bool,
}

impl UiPermissions {
    /// Asks for nothing.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks for the camera.
    #[must_use]
    pub fn camera(mut self) -> Self {
        self.camera = true;
        self
    }
    /// Asks for the microphone.
    #[must_use]
    pub fn microphone(mut self) -> Self {
        self.microphone = true;
        self
    }
    /// Asks for the location.
    #[must_use]
    pub fn geolocation(mut self) -> Self {
        self.geolocation = true;
        self
    }
    /// Asks to write to the clipboard.
    #[must_use]
    pub fn clipboard_write(mut self) -> Self {
        self.clipboard_write = true;
        self
    }

    /// As the extension writes them: an empty object per permission asked.
    fn to_json(self) -> Option<Value> {
        let mut out = Map::new();
        for (on, name) in [
            (self.camera, "camera"),
            (self.microphone, "microphone"),
            (self.geolocation, "geolocation"),
            (self.clipboard_write, "clipboardWrite"),
        ] {
            if on {
                out.insert(name.into(), json!({}));
            }
        }
        (!out.is_empty()).then_some(Value::Object(out))
    }
}

/// An app: a `ui://` HTML page a host shows beside the results of the tools linked to it.
///
/// ```
/// use mcp_runtime::catalog::{UiCsp, UiResource};
///
/// let board = UiResource::new(
///     "ui://crm/board",
///     "Project board",
///     "<!DOCTYPE html><html><body><ul id=\"projects\"></ul></body></html>",
/// )
/// .description("The caller's projects, with a form to add one")
/// .csp(UiCsp::new().connect(["https://api.example.com"]))
/// .tool("list_projects");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct UiResource {
    pub(crate) uri: String,
    name: String,
    title: Option<String>,
    description: Option<String>,
    html: Arc<str>,
    csp: UiCsp,
    permissions: UiPermissions,
    domain: Option<String>,
    prefers_border: Option<bool>,
    scopes: Vec<String>,
    /// The tools it shows, and whether only the app may call each (`visibility: ["app"]`).
    pub(crate) tools: Vec<(String, bool)>,
}

impl UiResource {
    /// The page at `uri` (`ui://…`), named `name`, whose HTML is `html`: a whole HTML
    /// document, usually embedded with `include_str!("board.html")`.
    pub fn new(uri: impl Into<String>, name: impl Into<String>, html: impl Into<Arc<str>>) -> Self {
        Self {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: None,
            html: html.into(),
            csp: UiCsp::default(),
            permissions: UiPermissions::default(),
            domain: None,
            prefers_border: None,
            scopes: Vec::new(),
            tools: Vec::new(),
        }
    }
    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// What the page may use beyond itself (default: nothing).
    pub fn csp(mut self, csp: UiCsp) -> Self {
        self.csp = csp;
        self
    }
    /// The browser permissions the page needs (default: none).
    pub fn permissions(mut self, permissions: UiPermissions) -> Self {
        self.permissions = permissions;
        self
    }
    /// The origin the host should give the frame, for hosts that give each app its own.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }
    /// Whether the host should draw a border around the page.
    pub fn prefers_border(mut self, border: bool) -> Self {
        self.prefers_border = Some(border);
        self
    }
    /// Requires these scopes of callers (of the page; the tools keep their own).
    pub fn require_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
    /// Links the tool named `name` of the same server: its listing names this page
    /// (`_meta.ui.resourceUri`), so a host shows the page with its results. The model and the
    /// page may both call it.
    pub fn tool(mut self, name: impl Into<String>) -> Self {
        self.tools.push((name.into(), false));
        self
    }
    /// Links a tool only the page may call (`visibility: ["app"]`): hosts keep it from the
    /// model, for actions of the page (move a card, save a form).
    pub fn app_only_tool(mut self, name: impl Into<String>) -> Self {
        self.tools.push((name.into(), true));
        self
    }

    /// The `_meta` of the page (`{"ui": …}`), on its listing and on its contents; `None` when
    /// the page sets nothing in it.
    fn meta(&self) -> Option<Map<String, Value>> {
        let mut ui = Map::new();
        if !self.csp.is_empty() {
            ui.insert("csp".into(), json!(self.csp));
        }
        if let Some(p) = self.permissions.to_json() {
            ui.insert("permissions".into(), p);
        }
        if let Some(d) = &self.domain {
            ui.insert("domain".into(), json!(d));
        }
        if let Some(b) = self.prefers_border {
            ui.insert("prefersBorder".into(), json!(b));
        }
        (!ui.is_empty()).then(|| Map::from_iter([("ui".to_owned(), Value::Object(ui))]))
    }

    /// Why the page cannot be served, or `None`.
    pub(crate) fn problem(&self) -> Option<String> {
        (!self.uri.starts_with("ui://") || self.uri.len() <= "ui://".len())
            .then(|| "its URI must start with `ui://`".to_owned())
    }

    /// The page as a resource: its HTML, with `_meta.ui` on the listing and on the contents.
    pub(crate) fn resource(&self) -> Resource {
        let html = self.html.clone();
        let uri = self.uri.clone();
        let mut resource = Resource::new(self.uri.clone(), self.name.clone(), move |_, _| {
            std::future::ready(crate::content::ResourceContents::text(
                &uri,
                Some(MIME_TYPE),
                &*html,
            ))
        })
        .mime_type(MIME_TYPE)
        .require_scopes(self.scopes.clone());
        if let Some(t) = &self.title {
            resource = resource.title(t);
        }
        if let Some(d) = &self.description {
            resource = resource.description(d);
        }
        if let Some(meta) = self.meta() {
            resource.contents_meta = Some(Arc::new(meta.clone()));
            resource.meta = Some(meta);
        }
        resource
    }
}

/// Sets a tool's link to the page at `uri`: `_meta.ui.resourceUri` (and the older
/// `_meta["ui/resourceUri"]`, which hosts still read), with `visibility: ["app"]` when only the
/// page may call it. What else the tool's own `_meta.ui` says stays. A tool shows one app: a
/// link to another page is refused (the build names both), and so is a `_meta.ui` that is not
/// an object.
pub(crate) fn link(
    meta: &mut Option<Map<String, Value>>,
    uri: &str,
    app_only: bool,
) -> Result<(), String> {
    if let Some(other) = linked(meta.as_ref())
        && other != uri
    {
        return Err(format!(
            "is linked to `{}` already: a tool shows one app",
            crate::bounds::shown(other)
        ));
    }
    let meta = meta.get_or_insert_with(Map::new);
    let Value::Object(ui) = meta
        .entry("ui")
        .or_insert_with(|| Value::Object(Map::new()))
    else {
        return Err("has a `_meta.ui` that is not an object".into());
    };
    ui.insert("resourceUri".into(), json!(uri));
    if app_only {
        ui.insert("visibility".into(), json!(["app"]));
    }
    meta.insert("ui/resourceUri".into(), json!(uri));
    Ok(())
}

/// Points a tool's link (either form) at `to` of the page it names: the page's URI in a server
/// that nests this one. What else `_meta.ui` says (its `visibility`) stays.
pub(crate) fn relink(
    meta: &mut Option<Map<String, Value>>,
    to: impl FnOnce(&str) -> Option<String>,
) {
    let Some(uri) = linked(meta.as_ref()).and_then(to) else {
        return;
    };
    let Some(meta) = meta.as_mut() else {
        return;
    };
    if let Some(Value::Object(ui)) = meta.get_mut("ui")
        && ui.contains_key("resourceUri")
    {
        ui.insert("resourceUri".into(), json!(uri));
    }
    if meta.contains_key("ui/resourceUri") {
        meta.insert("ui/resourceUri".into(), json!(uri));
    }
}

/// The page a tool's `_meta` links to, if any.
pub(crate) fn linked(meta: Option<&Map<String, Value>>) -> Option<&str> {
    let meta = meta?;
    meta.get("ui")
        .and_then(|ui| ui.get("resourceUri"))
        .or_else(|| meta.get("ui/resourceUri"))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_as_the_extension_writes_it() {
        let page = UiResource::new("ui://a/b", "b", "<html></html>")
            .csp(UiCsp::new().connect(["https://api.example.com"]))
            .permissions(UiPermissions::new().clipboard_write())
            .prefers_border(true);
        assert_eq!(
            page.meta().map(Value::Object).unwrap(),
            json!({ "ui": {
                "csp": { "connectDomains": ["https://api.example.com"] },
                "permissions": { "clipboardWrite": {} },
                "prefersBorder": true,
            }})
        );
        assert!(page.problem().is_none());
        assert!(UiResource::new("https://x", "x", "").problem().is_some());
        let mut meta = None;
        link(&mut meta, "ui://a/b", true).unwrap();
        assert_eq!(linked(meta.as_ref()), Some("ui://a/b"));
        assert_eq!(meta.as_ref().unwrap()["ui"]["visibility"], json!(["app"]));
        assert_eq!(meta.as_ref().unwrap()["ui/resourceUri"], "ui://a/b");
        // Linked again to the same page: one link; to another: refused.
        link(&mut meta, "ui://a/b", false).unwrap();
        assert!(link(&mut meta, "ui://a/c", false).is_err());
        // Nested: both forms follow the page's new URI, the rest stays.
        relink(&mut meta, |u| Some(u.replace("ui://", "ui://team/")));
        assert_eq!(linked(meta.as_ref()), Some("ui://team/a/b"));
        assert_eq!(meta.as_ref().unwrap()["ui/resourceUri"], "ui://team/a/b");
        assert_eq!(meta.as_ref().unwrap()["ui"]["visibility"], json!(["app"]));
    }
}
