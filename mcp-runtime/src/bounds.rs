//! The bounds on what a client sends that the server keeps or shows, written once: how long an
//! id or a kept string may be, how client text appears in an error message or a log line (cut,
//! with its length), how often one kind of warning may be logged, and how much of a response
//! this process fetched it reads.
//!
//! Below every other module: the protocol parser, the core, the stores and the transports all
//! use these rules.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest id a client may give what the server keeps while it lives: a request's id, a
/// `subscriptions/listen` id, a task id. Real clients send integers or UUIDs.
pub(crate) const MAX_ID_BYTES: usize = 1024;

/// The longest other string a client may make the server keep (a subscribed resource URI),
/// and the most bytes of JSON kept from a client's declaration (`capabilities`).
pub(crate) const MAX_KEPT_BYTES: usize = 8 * 1024;

/// How many characters of a client's string an error message or log line shows.
const SHOWN_CHARS: usize = 64;

/// A client's string as shown in an error message or a log line: whole when short, else its
/// first 64 characters, `…` and its length in bytes.
#[derive(Clone, Copy)]
pub(crate) struct Shown<'a>(&'a str);

/// `value` as an error message or log line shows it (see [`Shown`]).
pub(crate) fn shown(value: &str) -> Shown<'_> {
    Shown(value)
}

impl<'a> Shown<'a> {
    /// The shown text as a JSON string (for an error's `data`).
    pub(crate) fn json(self) -> serde_json::Value {
        serde_json::Value::String(self.owned())
    }

    /// The shown text as a `String`: the value itself, copied, when it is short enough to be
    /// shown whole (no formatting).
    pub(crate) fn owned(self) -> String {
        match self.whole() {
            Some(whole) => whole.to_owned(),
            None => self.to_string(),
        }
    }

    /// The value itself, when it is short enough to be shown whole (a fast check: at most
    /// 64 bytes; a longer value of at most 64 characters is shown whole too, by `Display`).
    pub(crate) fn whole(self) -> Option<&'a str> {
        (self.0.len() <= SHOWN_CHARS).then_some(self.0)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(SHOWN_CHARS) {
            Some((cut, _)) => write!(f, "{}… ({} bytes)", &self.0[..cut], self.0.len()),
            None => f.write_str(self.0),
        }
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The longest an app may have something kept or waited for (a policy's window, lease or
/// cache lifetime, a task's TTL): ten years; longer is cut to it, far from what would
/// overflow a clock's arithmetic or a store's expiry.
pub(crate) const LONGEST: std::time::Duration =
    std::time::Duration::from_secs(10 * 365 * 24 * 3600);

/// The network a client's address counts as wherever something is bounded or limited per
/// client: an IPv4 address itself (also when inside an IPv6 one); an IPv6 address's /64, which
/// one host commonly holds whole (its addresses would otherwise count as that many clients).
pub(crate) fn client_network(ip: std::net::IpAddr) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv6Addr};
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The longest error message sent: a message that quotes a client's value without cutting it
/// (a deserializer's "invalid value: …") is cut here, whatever wrote it.
const MAX_MESSAGE_BYTES: usize = 1024;

/// `message`, cut to [`MAX_MESSAGE_BYTES`] (with `…` and its length) when longer.
pub(crate) fn capped(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut cut = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes)", &message[..cut], message.len())
}

/// Lets one kind of log line through at most once a second; the lines held back are counted
/// and reported with the next one. One per call site (see [`warn_limited!`]).
pub(crate) struct Throttle {
    /// The second (since the first line) of the last line let through, plus one; 0: none yet.
    last: AtomicU64,
    held: AtomicU64,
}

impl Throttle {
    pub(crate) const fn new() -> Self {
        Self {
            last: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` when a line may be logged now.
    pub(crate) fn allow(&self) -> Option<u64> {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let now = START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs()
            + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last == now
            || self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

/// `tracing::warn!` at most once a second from this call site, with `held_back`: how many
/// such lines were not logged since the last one. For warnings a client can cause at will.
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static THROTTLE: $crate::bounds::Throttle = $crate::bounds::Throttle::new();
        if let Some(held_back) = THROTTLE.allow() {
            tracing::warn!(held_back, $($arg)+);
        }
    }};
}
pub(crate) use warn_limited;

/// The body of an HTTP response this process fetched (an MCP server's answer, an identity
/// provider's, a JWKS, a client's metadata document), read up to `max` bytes: past them the read
/// stops, nothing more is kept, and the error says so. `what` names the body in the errors
/// ("the identity provider's answer").
#[cfg(any(feature = "client", feature = "jwt", feature = "oauth"))]
pub(crate) async fn read_response(
    res: &mut reqwest::Response,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("{what} is over {max} bytes");
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| format!("{what} broke off: {e}"))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_counts_as_its_ipv4_address_or_its_ipv6_slash_64() {
        let net = |a: &str| client_network(a.parse().unwrap()).to_string();
        assert_eq!(net("203.0.113.7"), "203.0.113.7");
        assert_eq!(net("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(net("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        assert_eq!(net("2001:db8:1:2:ffff::1"), "2001:db8:1:2::");
        assert_ne!(net("2001:db8:1:3::1"), net("2001:db8:1:2::1"));
    }

    #[test]
    fn long_client_strings_are_shown_cut_with_their_length() {
        assert_eq!(shown("tools/call").to_string(), "tools/call");
        let long = "é".repeat(100);
        let s = shown(&long).to_string();
        assert_eq!(s, format!("{}… (200 bytes)", "é".repeat(64)));
        assert_eq!(shown(&"x".repeat(64)).to_string(), "x".repeat(64));
        assert_eq!(shown(&"x".repeat(64)).owned(), "x".repeat(64));
        assert_eq!(shown(&long).owned(), s);
    }

    #[test]
    fn long_error_messages_are_capped() {
        assert_eq!(capped("short".into()), "short");
        let long = capped(format!("invalid value: {}", "y".repeat(5000)));
        assert!(long.len() < 1100, "{}", long.len());
        assert!(long.ends_with("… (5015 bytes)"), "{long}");
    }

    #[test]
    fn a_throttle_lets_one_line_a_second_through_and_counts_the_rest() {
        let t = Throttle::new();
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        // The same second, unless the test straddles a second: then the next is let through
        // with the two held back.
        match t.allow() {
            None => {}
            Some(held) => assert_eq!(held, 2),
        }
    }
}
