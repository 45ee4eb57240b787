//! A server-sent events reader (the WHATWG event-stream format) with a bound on each event.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    /// `event:` (empty: the default type, `message`).
    pub(crate) name: String,
    /// The `data:` lines joined with `\n`.
    pub(crate) data: String,
}

/// Why a stream cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SseError {
    /// A line or event over the bound.
    TooLarge(usize),
    /// A line that is not UTF-8.
    NotUtf8,
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::TooLarge(n) => write!(f, "an event over the {n}-byte bound"),
            SseError::NotUtf8 => f.write_str("a line that is not UTF-8"),
        }
    }
}

/// Reads chunks as they arrive; lines end with LF, CRLF or CR.
#[derive(Debug)]
pub(crate) struct Reader {
    max: usize,
    line: Vec<u8>,
    /// The last chunk ended with CR: an LF opening the next one ends nothing.
    after_cr: bool,
    name: String,
    data: String,
    has_data: bool,
}

impl Reader {
    pub(crate) fn new(max: usize) -> Self {
        Reader {
            max,
            line: Vec::new(),
            after_cr: false,
            name: String::new(),
            data: String::new(),
            has_data: false,
        }
    }

    /// Feeds a chunk; complete events are appended to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        for &b in chunk {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out)?;
                }
                _ => {
                    if self.line.len() + self.data.len() >= self.max {
                        return Err(SseError::TooLarge(self.max));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                out.push(Event {
                    name: std::mem::take(&mut self.name),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.name.clear();
            self.data.clear();
            self.has_data = false;
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.name),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    return Err(SseError::TooLarge(self.max));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry`: the follower keeps its own cursor and schedule.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]], max: usize) -> Result<Vec<Event>, SseError> {
        let mut r = Reader::new(max);
        let mut out = Vec::new();
        for c in chunks {
            r.push(c, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn reads_events_across_chunks_and_line_endings() {
        let got = events(
            &[
                b": comment\r\nevent: revocation\r\nid: 1\r",
                b"\ndata: {\"seq\":1}\r\n\r",
                b"\nevent:heartbeat\ndata:{}\n\ndata: a\ndata: b\n\n",
            ],
            1024,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                Event {
                    name: "revocation".into(),
                    data: "{\"seq\":1}".into()
                },
                Event {
                    name: "heartbeat".into(),
                    data: "{}".into()
                },
                Event {
                    name: String::new(),
                    data: "a\nb".into()
                },
            ]
        );
    }

    #[test]
    fn bounds_lines_and_events() {
        assert_eq!(events(&[&[b'x'; 100]], 64), Err(SseError::TooLarge(64)));
        let many = "data: 0123456789\n".repeat(10);
        assert_eq!(events(&[many.as_bytes()], 64), Err(SseError::TooLarge(64)));
        assert_eq!(events(&[b"data: \xff\n\n"], 64), Err(SseError::NotUtf8));
    }
}
