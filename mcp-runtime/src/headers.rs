//! Reading header values as text: one rule for every header the runtime reads. A value that is
//! not visible ASCII is an invalid value, refused with a message naming the header, never read
//! as if the header were absent.

use http::{HeaderMap, HeaderName, HeaderValue};
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
