//! Reading a `text/event-stream` body: events as they arrive, with their ids.

/// One event: its `id:` (if any) and its `data:` lines joined.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) id: Option<String>,
    pub(crate) data: String,
}

/// Splits a stream's bytes into events; bytes of an event not complete yet wait for the next
/// chunk. `max` bounds what one event may hold.
#[derive(Debug)]
pub(crate) struct Parser {
    buffer: Vec<u8>,
    /// How far `buffer` is known to hold no blank line.
    scanned: usize,
    max: usize,
}

impl Parser {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            buffer: Vec::new(),
            scanned: 0,
            max,
        }
    }

    /// Adds a chunk; returns the events it completed, or an error when an event is too large.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, String> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        loop {
            // A blank line may start up to three bytes before the end of the last scan.
            let from = self.scanned.saturating_sub(3);
            let end = find_blank_line(&self.buffer[from..]).map(|(at, len)| (at + from, len));
            let Some((at, len)) = end else {
                self.scanned = self.buffer.len();
                break;
            };
            self.scanned = 0;
            let raw: Vec<u8> = self.buffer.drain(..at + len).collect();
            let text = String::from_utf8_lossy(&raw[..at]).into_owned();
            let mut event = Event::default();
            let mut data = Vec::new();
            for line in text.lines() {
                let (field, value) = match line.split_once(':') {
                    Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                    None => (line, ""),
                };
                match field {
                    "id" => event.id = Some(value.to_owned()),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            event.data = data.join("\n");
            if event.id.is_some() || !event.data.is_empty() {
                events.push(event);
            }
        }
        if self.buffer.len() > self.max {
            return Err(format!(
                "an event of the server's stream passed {} bytes",
                self.max
            ));
        }
        Ok(events)
    }
}

/// Where the first blank line (`\n\n` or `\r\n\r\n`) starts, and its length.
fn find_blank_line(b: &[u8]) -> Option<(usize, usize)> {
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks() {
        let mut p = Parser::new(1024);
        assert!(p.push(b"id: 1\ndata: {\"a\"").unwrap().is_empty());
        let events = p
            .push(b":1}\n\n: comment\n\ndata: x\r\n\r\nid: 3\n\n")
            .unwrap();
        assert_eq!(
            events,
            [
                Event {
                    id: Some("1".into()),
                    data: "{\"a\":1}".into()
                },
                Event {
                    id: None,
                    data: "x".into()
                },
                Event {
                    id: Some("3".into()),
                    data: String::new()
                },
            ]
        );
        assert!(Parser::new(4).push(b"data: too long").is_err());
    }
}
