//! The app's log line: what `tracing-subscriber`'s full format writes without colours
//! (`2026-12-06T19:47:11.123456Z  INFO target: message key="value" n=3`, the spans in scope
//! before the target), written straight into the line instead of through the formatter's
//! painted `write!` per field and its timestamp formatting.
//!
//! Every call of every mount writes one audit line, so the line's cost is part of a call's:
//! `tracing-subscriber`'s own format spent about 13k instructions on it, this about a third.
//! Text values are quoted and escaped as `{:?}` writes them (a newline in a client's tool name
//! cannot start a forged line); plain text is copied as is.

use std::fmt::Result as FmtResult;
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
        timestamp(&mut writer, SystemTime::now())?;
        let meta = event.metadata();
        // The level right-aligned in five columns, as the full format has it.
        writer.write_str(match *meta.level() {
            tracing::Level::TRACE => " TRACE ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::ERROR => " ERROR ",
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(":")?;
        let mut fields = Fields {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes an event's fields: ` message name="text" n=3`.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: FmtResult,
}

impl Fields<'_, '_> {
    fn name(&mut self, field: &Field) -> FmtResult {
        self.writer.write_char(' ')?;
        let name = field.name();
        if name != "message" {
            self.writer
                .write_str(name.strip_prefix("r#").unwrap_or(name))?;
            self.writer.write_char('=')?;
        }
        Ok(())
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = self.name(field).and_then(|()| {
            if field.name() == "message" {
                self.writer.write_str(value)
            } else if value
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
            {
                // Nothing to escape: `{:?}` would write the same, a character at a time.
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            } else {
                write!(self.writer, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| self.writer.write_str(itoa::Buffer::new().format(value)));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| self.writer.write_str(itoa::Buffer::new().format(value)));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| self.writer.write_str(if value { "true" } else { "false" }));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_ok() {
            self.result = self
                .name(field)
                .and_then(|()| write!(self.writer, "{value:?}"));
        }
    }
}

/// `2026-12-06T19:47:11.123456Z` (UTC, microseconds), as the full format writes its time.
fn timestamp(writer: &mut Writer<'_>, now: SystemTime) -> FmtResult {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    let mut line = [0u8; 27];
    let mut put = |at: usize, value: u64, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            line[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, of_day / 3600, 2);
    put(14, of_day / 60 % 60, 2);
    put(17, of_day % 60, 2);
    put(20, u64::from(since.subsec_micros()), 6);
    for (at, b) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        line[at] = b;
    }
    writer.write_str(std::str::from_utf8(&line).map_err(|_| std::fmt::Error)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt as _;

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
        timestamp(&mut Writer::new(&mut s), at).unwrap();
        assert_eq!(s, "2026-12-06T19:47:11.000042Z");
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
