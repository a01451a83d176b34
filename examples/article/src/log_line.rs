//! The app's log: the line (what `tracing-subscriber`'s full format writes without colours,
//! `2026-12-06T19:47:11.123456Z  INFO target: message key="value" n=3`, the spans in scope
//! before the target), written straight into the line instead of through the formatter's
//! painted `write!` per field and its timestamp formatting; and where lines go ([`Batched`]).
//!
//! Every call of every mount writes one audit line, so the line's cost is part of a call's:
//! `tracing-subscriber`'s own format spent about 13k instructions on it, this about a third.
//! Text values are quoted and escaped as `{:?}` writes them (a newline in a client's tool name
//! cannot start a forged line); plain text is copied as is.

use std::fmt::Result as FmtResult;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::{
    self, FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter,
};
use tracing_subscriber::registry::LookupSpan;

/// The event format of the app's log (see the module's docs).
pub struct LogLine;

/// The app's log layer: [`LogLine`]s, span fields without colours, into `writer`.
pub fn layer<S, W>(writer: W) -> fmt::Layer<S, DefaultFields, LogLine, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fmt::layer()
        .event_format(LogLine)
        .with_ansi(false)
        .with_writer(writer)
}

impl<S, N> FormatEvent<S, N> for LogLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> FmtResult {
        thread_local! {
            static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        // The line is written into a `String` of this thread (reused), then handed on once:
        // every piece a direct append, not a call through the formatter's `dyn Write`.
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else {
                // An event logged while formatting one (by a `Debug` impl): a line of its own.
                return format_line(ctx, &mut String::new(), event)
                    .and_then(|line| writer.write_str(line));
            };
            line.clear();
            let line = format_line(ctx, &mut line, event)?;
            writer.write_str(line)
        })
    }
}

/// Writes `event`'s line into `line`.
fn format_line<'l, S, N>(
    ctx: &FmtContext<'_, S, N>,
    line: &'l mut String,
    event: &Event<'_>,
) -> Result<&'l str, std::fmt::Error>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    use std::fmt::Write as _;
    timestamp(line, SystemTime::now());
    let meta = event.metadata();
    // The level right-aligned in five columns, as the full format has it.
    line.push_str(match *meta.level() {
        tracing::Level::TRACE => " TRACE ",
        tracing::Level::DEBUG => " DEBUG ",
        tracing::Level::INFO => "  INFO ",
        tracing::Level::WARN => "  WARN ",
        tracing::Level::ERROR => " ERROR ",
    });
    if let Some(scope) = ctx.event_scope() {
        for span in scope.from_root() {
            line.push_str(span.name());
            let ext = span.extensions();
            if let Some(fields) = ext.get::<FormattedFields<N>>()
                && !fields.is_empty()
            {
                write!(line, "{{{fields}}}")?;
            }
            line.push(':');
        }
        line.push(' ');
    }
    line.push_str(meta.target());
    line.push(':');
    let mut fields = Fields {
        line,
        result: Ok(()),
    };
    event.record(&mut fields);
    fields.result?;
    line.push('\n');
    Ok(line)
}

/// Writes an event's fields: ` message name="text" n=3`.
struct Fields<'a> {
    line: &'a mut String,
    result: FmtResult,
}

impl Fields<'_> {
    /// ` name=` (nothing but the space for the message).
    fn name(&mut self, field: &Field) {
        let name = field.name();
        if name == "message" {
            self.line.push(' ');
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.line.reserve(name.len() + 2);
            self.line.push(' ');
            self.line.push_str(name);
            self.line.push('=');
        }
    }
}

/// Whether `{:?}` writes `text` as it is, between quotes: visible ASCII and spaces, no `"`, no
/// `\`. Eight bytes at a time (each test below is exact for "any byte of the eight").
fn plain(text: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Any byte below `n` (n <= 0x80), any byte equal to `b`.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let equal = |x: u64, b: u8| below(x ^ (ONES * u64::from(b)), 1);
    let mut chunks = text.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(chunk);
        let x = u64::from_le_bytes(bytes);
        if (x & HIGH) | below(x, b' ') | equal(x, 0x7f) | equal(x, b'"') | equal(x, b'\\') != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if name == "message" {
            self.line.reserve(value.len() + 1);
            self.line.push(' ');
            self.line.push_str(value);
        } else if plain(value) {
            // Nothing to escape: `{:?}` would write the same, a character at a time.
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.line.reserve(name.len() + value.len() + 4);
            self.line.push(' ');
            self.line.push_str(name);
            self.line.push_str("=\"");
            self.line.push_str(value);
            self.line.push('"');
        } else {
            self.name(field);
            if self.result.is_ok() {
                use std::fmt::Write as _;
                self.result = write!(self.line, "{value:?}");
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.name(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.name(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.name(field);
        if self.result.is_ok() {
            use std::fmt::Write as _;
            self.result = write!(self.line, "{value:?}");
        }
    }
}

/// `2026-12-06T19:47:11.123456Z` (UTC, microseconds), as the full format writes its time.
/// The date and time of day are written once per second and thread (most lines of a second
/// share them); the microseconds every time.
fn timestamp(line: &mut String, now: SystemTime) {
    thread_local! {
        /// The second last written, and its `2026-12-06T19:47:11.`.
        static SECOND: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
    }
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let mut text = [0u8; 27];
    let put = |text: &mut [u8; 27], at: usize, value: u64, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            text[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    let (cached, prefix) = SECOND.get();
    if cached == secs {
        text[..20].copy_from_slice(&prefix);
    } else {
        let (year, month, day) = civil_from_days(secs / 86_400);
        let of_day = secs % 86_400;
        put(&mut text, 0, year, 4);
        put(&mut text, 5, month, 2);
        put(&mut text, 8, day, 2);
        put(&mut text, 11, of_day / 3600, 2);
        put(&mut text, 14, of_day / 60 % 60, 2);
        put(&mut text, 17, of_day % 60, 2);
        for (at, b) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ] {
            text[at] = b;
        }
        let mut prefix = [0; 20];
        prefix.copy_from_slice(&text[..20]);
        SECOND.set((secs, prefix));
    }
    put(&mut text, 20, u64::from(since.subsec_micros()), 6);
    text[26] = b'Z';
    // Digits and ASCII punctuation only: always UTF-8.
    line.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Where the app's log lines go: gathered in memory and written to stderr by a thread of their
/// own every [`Batched::EVERY`], in the order they were logged. A line costs its logger a lock
/// and a copy: no write to stderr, no wake-up of another thread per line (as a channel to a
/// writer thread makes). Nothing is lost, and what waits is bounded: past [`Batched::MAX_PENDING`] bytes the logger
/// writes what is waiting itself. [`Flusher`] writes the rest when the app exits; a process
/// killed outright (SIGKILL) loses the lines of its last [`Batched::EVERY`].
#[derive(Clone)]
pub struct Batched(Arc<Shared>);

struct Shared {
    /// Lines logged, not yet written.
    pending: Mutex<Vec<u8>>,
    /// Where they go, and the buffer the last batch left (swapped with `pending` at the next,
    /// so loggers append to a buffer that has its room already). Locked before `pending` by
    /// whoever writes, so batches leave in order.
    out: Mutex<(Box<dyn Write + Send>, Vec<u8>)>,
    stop: AtomicBool,
}

impl Shared {
    /// Writes what is waiting.
    fn drain(&self) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let (out, batch) = &mut *out;
        std::mem::swap(
            batch,
            &mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner),
        );
        if !batch.is_empty() {
            // Nowhere to report a failed write to the log but the log itself.
            let _ = out.write_all(batch);
            let _ = out.flush();
            batch.clear();
        }
    }
}

impl Batched {
    /// How long a line may wait before it is written.
    pub const EVERY: Duration = Duration::from_millis(10);
    /// The most bytes that wait; past it, the logger writes them.
    pub const MAX_PENDING: usize = 1 << 20;

    /// Lines to `out`, written by a thread named `logs`; the [`Flusher`] ends it.
    pub fn new(out: impl Write + Send + 'static) -> std::io::Result<(Self, Flusher)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Vec::with_capacity(64 * 1024)),
            out: Mutex::new((Box::new(out), Vec::with_capacity(64 * 1024))),
            stop: AtomicBool::new(false),
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("logs".into())
            .spawn(move || {
                while !writer.stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(Self::EVERY);
                    writer.drain();
                }
                writer.drain();
            })?;
        Ok((
            Self(shared.clone()),
            Flusher {
                shared,
                thread: Some(thread),
            },
        ))
    }
}

impl Write for &Batched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let waiting = {
            let mut pending = self
                .0
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.extend_from_slice(buf);
            pending.len()
        };
        if waiting > Batched::MAX_PENDING {
            self.0.drain();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = &'a Batched;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Ends the writer thread of a [`Batched`] when dropped, after it wrote every line logged.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
        self.shared.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn plain_text_is_what_debug_writes_as_it_is() {
        let debug_keeps = |t: &str| format!("{t:?}") == format!("\"{t}\"");
        // Every byte at every place of a 9-byte text (one chunk and a remainder), and texts of
        // every length up to 20.
        for b in 0..=255u8 {
            for at in 0..9 {
                let mut bytes = *b"abcdefghi";
                bytes[at] = b;
                if let Ok(t) = std::str::from_utf8(&bytes) {
                    let byte_wise = (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\';
                    assert_eq!(plain(t), byte_wise, "{b:#x} at {at}");
                    if byte_wise {
                        assert!(debug_keeps(t));
                    }
                }
            }
        }
        for len in 0..20 {
            assert!(plain(&"x".repeat(len)));
            assert!(!plain(&format!("{}\n", "x".repeat(len))));
        }
        assert!(!plain("get_st\u{e9}tus-x"));
        assert!(!plain("tools/call\u{7f}"));
    }

    #[test]
    fn dates_are_those_of_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_793), (2026, 12, 6));
        assert_eq!(civil_from_days(20_818), (2026, 12, 31));
        assert_eq!(civil_from_days(20_819), (2027, 1, 1));
    }

    #[test]
    fn the_time_is_rfc_3339_utc_with_microseconds() {
        let mut s = String::new();
        let at = UNIX_EPOCH + Duration::from_micros(1_796_586_431_000_042);
        timestamp(&mut s, at);
        assert_eq!(s, "2026-12-06T19:47:11.000042Z");
        // The same second again (from the thread's last), then the next one, then back.
        for (micros, text) in [
            (1_796_586_431_999_999, "2026-12-06T19:47:11.999999Z"),
            (1_796_586_432_000_000, "2026-12-06T19:47:12.000000Z"),
            (1_796_586_431_500_000, "2026-12-06T19:47:11.500000Z"),
            (1_830_297_600_000_001, "2028-01-01T00:00:00.000001Z"),
        ] {
            let mut s = String::new();
            timestamp(&mut s, UNIX_EPOCH + Duration::from_micros(micros));
            assert_eq!(s, text);
        }
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn batched_lines_are_written_in_order_soon_and_at_the_end() {
        let out = Buf::default();
        let (log, flusher) = Batched::new(out.clone()).unwrap();
        for i in 0..1000 {
            writeln!(&log, "line {i}").unwrap();
        }
        // Written by the thread within a few periods, without a flush from the logger.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while out.0.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Batched::EVERY);
        }
        assert!(!out.0.lock().unwrap().is_empty(), "written by the thread");
        // Past the bound, the logger writes what waits itself; order is kept throughout.
        let long = "x".repeat(Batched::MAX_PENDING);
        writeln!(&log, "{long}").unwrap();
        writeln!(&log, "last").unwrap();
        drop(flusher);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1002);
        assert!(
            lines[..1000]
                .iter()
                .enumerate()
                .all(|(i, l)| *l == format!("line {i}"))
        );
        assert_eq!(lines[1000], long);
        assert_eq!(lines[1001], "last");
    }

    #[test]
    fn a_line_has_the_level_the_spans_the_target_and_escaped_text() {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::registry().with(layer(move || out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("req", id = 7);
            let _in = span.enter();
            tracing::info!(
                target: "mcp_runtime::audit",
                name = "get_status",
                forged = "a\n2026  INFO fake",
                n = 42_u64,
                ok = true,
                ms = 1.5,
                "mcp request"
            );
        });
        let line = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let (time, rest) = line.split_at(27);
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
        assert_eq!(
            rest,
            "  INFO req{id=7}: mcp_runtime::audit: mcp request name=\"get_status\" \
             forged=\"a\\n2026  INFO fake\" n=42 ok=true ms=1.5\n"
        );
    }
}
