//! Reading header values as text: one rule for every header the runtime reads. A value that is
//! not visible ASCII is an invalid value, refused with a message naming the header, never read
//! as if the header were absent.

use http::{HeaderMap, HeaderName, HeaderValue, header};
use std::fmt;

/// A header whose value is not visible ASCII.
#[derive(Debug)]
pub(crate) struct Unreadable {
    name: String,
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the `{}` header is not readable: header values must be visible ASCII",
            self.name
        )
    }
}

impl std::error::Error for Unreadable {}

/// A media type's essence (`type/subtype`, without its parameters), as written.
pub(crate) fn essence(media: &str) -> &str {
    media.split(';').next().unwrap_or("").trim()
}

/// Whether `value` is the media type `media` (its essence, any case; parameters allowed).
#[cfg(feature = "oauth")]
pub(crate) fn media_is(value: Option<&http::HeaderValue>, media: &str) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| essence(v).eq_ignore_ascii_case(media))
}

/// The value of a header as text: `Ok(None)` when absent, an error when present but not
/// visible ASCII. With several values, the first. Visible ASCII, spaces and tabs only, so
/// `trim_ascii` trims it as `trim` would (without decoding characters).
pub(crate) fn text<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h str>, Unreadable> {
    value_text(headers.get(name), name)
}

/// [`text`] of a value already found (the header `name`'s).
pub(crate) fn value_text<'h>(
    value: Option<&'h HeaderValue>,
    name: &HeaderName,
) -> Result<Option<&'h str>, Unreadable> {
    match value {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| Unreadable {
            name: name.as_str().to_owned(),
        }),
    }
}

/// `MCP-Protocol-Version`.
pub(crate) static MCP_PROTOCOL_VERSION: HeaderName =
    HeaderName::from_static("mcp-protocol-version");
/// The `Mcp-Session-Id` header.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
static MCP_SESSION_ID: HeaderName = HeaderName::from_static(SESSION_HEADER);

/// The headers every MCP request over HTTP is checked for, found in one pass over the request's
/// headers: a look-up by name hashes the name each time, and most of these are named outside
/// the standard set or absent. With several values, the first (as a look-up finds). `headers`
/// stays for what is rarely read.
#[derive(Clone, Copy)]
pub(crate) struct Known<'h> {
    pub(crate) headers: &'h HeaderMap,
    pub(crate) origin: Option<&'h HeaderValue>,
    pub(crate) host: Option<&'h HeaderValue>,
    pub(crate) content_type: Option<&'h HeaderValue>,
    /// The first `Accept`, and whether another follows.
    pub(crate) accept: Option<&'h HeaderValue>,
    pub(crate) more_accepts: bool,
    pub(crate) protocol_version: Option<&'h HeaderValue>,
    pub(crate) session_id: Option<&'h HeaderValue>,
}

impl<'h> Known<'h> {
    pub(crate) fn of(headers: &'h HeaderMap) -> Self {
        let mut known = Self {
            headers,
            origin: None,
            host: None,
            content_type: None,
            accept: None,
            more_accepts: false,
            protocol_version: None,
            session_id: None,
        };
        for (name, value) in headers {
            let slot = if name == header::HOST {
                &mut known.host
            } else if name == header::CONTENT_TYPE {
                &mut known.content_type
            } else if name == header::ACCEPT {
                known.more_accepts |= known.accept.is_some();
                &mut known.accept
            } else if name == header::ORIGIN {
                &mut known.origin
            } else if name == MCP_PROTOCOL_VERSION {
                &mut known.protocol_version
            } else if name == MCP_SESSION_ID {
                &mut known.session_id
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        known
    }

    /// The `Mcp-Session-Id` the request names, as text.
    pub(crate) fn session(&self) -> Result<Option<&'h str>, Unreadable> {
        value_text(self.session_id, &MCP_SESSION_ID)
    }
}
