//! Reading, hashing, splitting and decoding the records of one file, on a
//! thread of its own: the checks and the replay in [`super::read`] depend
//! on the order of the records and stay on one thread, so an import uses
//! the second core for this part (about a third of the reading time).
//!
//! What comes out is in file order: each record's decoded values, or the
//! problems with its items, so that problems are reported in the same
//! order whichever thread found them.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::mpsc::SyncSender;

use super::{Problem, ReadError};
use crate::layout::{Kind, Layout, MUNICIPALITY};
use crate::manifest::Form;
use crate::text::{Encoding, GaijiTable, TextProblem, decode_field, pua_to_sjis};

/// Records sent to the checking thread in one message.
const CHUNK_RECORDS: usize = 1024;
/// Chunks in flight: bounds memory to a few MB whatever the file's size.
pub(super) const CHUNKS_IN_FLIGHT: usize = 16;

/// A run of records, in file order.
pub(super) struct Chunk {
    pub items: Vec<Item>,
    /// Records in this chunk, valid or not.
    pub records: u64,
    /// Bytes of the file read up to the end of this chunk.
    pub bytes: u64,
}

pub(super) enum Item {
    /// A record whose items are all valid: its line and decoded values.
    Row(u64, Vec<String>),
    Problem(Problem),
    /// A 外字 code not in the table, as shown to staff (`F041 (U+E001)`).
    Unmapped(String),
}

/// Reads one file of a data set. Returns the file's BLAKE3 and its record
/// count once the whole file is read.
pub(super) struct Decoder<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    pub layout: &'static Layout,
    pub encoding: Encoding,
    pub gaiji: &'a GaijiTable,
    /// The municipality code the records must carry (5 digits).
    pub m5: &'a str,
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Collects items and sends them on in chunks. `false` from `send` means
/// the checking side is gone (it failed): stop reading.
struct Out {
    tx: SyncSender<Chunk>,
    items: Vec<Item>,
    records: u64,
}

impl Out {
    fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    fn record_done(&mut self, bytes: u64) -> bool {
        self.records += 1;
        if self.records as usize >= CHUNK_RECORDS {
            return self.send(bytes);
        }
        true
    }

    fn send(&mut self, bytes: u64) -> bool {
        let chunk = Chunk {
            items: std::mem::replace(&mut self.items, Vec::with_capacity(CHUNK_RECORDS)),
            records: std::mem::take(&mut self.records),
            bytes,
        };
        self.tx.send(chunk).is_ok()
    }
}

impl Decoder<'_> {
    pub fn run(&self, tx: SyncSender<Chunk>) -> Result<(String, u64), ReadError> {
        let io = |source| ReadError::Io {
            path: self.path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(self.path).map_err(io)?;
        let mut src = Hashing {
            inner: file,
            hasher: blake3::Hasher::new(),
            bytes: 0,
        };
        let mut out = Out {
            tx,
            items: Vec::with_capacity(CHUNK_RECORDS),
            records: 0,
        };
        let name = self.name;
        let layout = self.layout;
        let mut records = 0u64;
        let form = if name.ends_with(".csv") {
            Form::Csv
        } else {
            Form::Fixed
        };
        match form {
            Form::Fixed => {
                let offsets = layout.offsets();
                let width = layout.record_bytes();
                let mut reader = std::io::BufReader::with_capacity(1 << 20, &mut src);
                let mut line = Vec::with_capacity(width + 2);
                let mut n = 0u64;
                let mut read = 0u64;
                loop {
                    line.clear();
                    let got = reader.read_until(b'\n', &mut line).map_err(io)?;
                    if got == 0 {
                        break;
                    }
                    n += 1;
                    read += got as u64;
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if line.is_empty() {
                        continue;
                    }
                    records += 1;
                    if line.len() != width {
                        out.push(Item::Problem(Problem::whole(
                            name,
                            n,
                            format!(
                                "the record is {} bytes; layout {} {} records are {width} bytes (then CR LF)",
                                line.len(),
                                layout.id,
                                layout.name
                            ),
                        )));
                    } else {
                        let cells: Vec<&[u8]> = layout
                            .fields
                            .iter()
                            .zip(&offsets)
                            .map(|(f, &o)| &line[o..o + f.bytes])
                            .collect();
                        self.decode_cells(&mut out, n, &cells, form);
                    }
                    if !out.record_done(read) {
                        return Ok((String::new(), records));
                    }
                }
            }
            Form::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(&mut src);
                let mut rec = csv::ByteRecord::new();
                let mut header = true;
                loop {
                    let ok = match reader.read_byte_record(&mut rec) {
                        Ok(ok) => ok,
                        Err(e) => {
                            let line = e.position().map_or(0, |p| p.line());
                            out.push(Item::Problem(Problem::whole(
                                name,
                                line,
                                format!("not valid CSV: {e}"),
                            )));
                            break;
                        }
                    };
                    if !ok {
                        break;
                    }
                    let line = rec.position().map_or(0, |p| p.line());
                    let at = rec.position().map_or(0, |p| p.byte());
                    let cells: Vec<&[u8]> = rec.iter().collect();
                    if header {
                        header = false;
                        let names: Vec<String> = cells
                            .iter()
                            .map(|c| decode_field(c, self.encoding, self.gaiji).unwrap_or_default())
                            .collect();
                        let want: Vec<&str> = layout.fields.iter().map(|f| f.name).collect();
                        if names != want {
                            out.push(Item::Problem(Problem {
                                file: name.to_string(),
                                line,
                                field: "-".into(),
                                value: names.join(","),
                                reason: format!(
                                    "the header row must name the {} items of layout {} in order: {}",
                                    want.len(),
                                    layout.id,
                                    want.join(",")
                                ),
                            }));
                            out.send(at);
                            return Ok((String::new(), 0));
                        }
                        continue;
                    }
                    records += 1;
                    if cells.len() != layout.fields.len() {
                        out.push(Item::Problem(Problem::whole(
                            name,
                            line,
                            format!(
                                "the record has {} items; layout {} has {}",
                                cells.len(),
                                layout.id,
                                layout.fields.len()
                            ),
                        )));
                    } else {
                        self.decode_cells(&mut out, line, &cells, form);
                    }
                    if !out.record_done(at) {
                        return Ok((String::new(), records));
                    }
                }
                drop(reader);
                // The reader may stop before the end (an error); count it all.
                std::io::copy(&mut src, &mut std::io::sink()).map_err(io)?;
            }
        }
        out.send(src.bytes);
        Ok((src.hasher.finalize().to_hex().to_string(), records))
    }

    /// Decodes and checks each item of a record: the record's values if
    /// all are valid, else a problem for each bad one.
    fn decode_cells(&self, out: &mut Out, line: u64, cells: &[&[u8]], form: Form) {
        let mut values = Vec::with_capacity(cells.len());
        let mut ok = true;
        for (f, raw) in self.layout.fields.iter().zip(cells) {
            let mut fail = |value: String, reason: String| {
                ok = false;
                out.push(Item::Problem(Problem {
                    file: self.name.to_string(),
                    line,
                    field: f.name.to_string(),
                    value,
                    reason,
                }));
            };
            let v = match decode_field(raw, self.encoding, self.gaiji) {
                Ok(v) => v,
                Err(p) => {
                    let shown = String::from_utf8_lossy(raw).trim_end().to_string();
                    fail(shown, p.reason());
                    if let TextProblem::Unmapped(c) = p {
                        let label = match pua_to_sjis(c) {
                            Some(s) => format!("{s:04X} (U+{:04X})", c as u32),
                            None => format!("U+{:04X}", c as u32),
                        };
                        out.push(Item::Unmapped(label));
                    }
                    continue;
                }
            };
            if form == Form::Csv && raw.len() > f.bytes {
                fail(
                    v,
                    format!("{} bytes; the item holds {}", raw.len(), f.bytes),
                );
                continue;
            }
            let reason = match f.kind {
                Kind::X if !v.bytes().all(|b| (0x20..0x7F).contains(&b)) => {
                    Some("an X item holds printable ASCII only".to_string())
                }
                Kind::Nine if v.len() != f.bytes || !v.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(format!("a 9 item is exactly {} digits", f.bytes))
                }
                _ if f.required && v.is_empty() => Some("required".to_string()),
                _ => match f.code {
                    Some(t) if std::ptr::eq(t, &MUNICIPALITY) => (v != self.m5).then(|| {
                        format!(
                            "the record is for municipality {v}, the import is into {}",
                            self.m5
                        )
                    }),
                    Some(t) if !v.is_empty() && t.label(&v).is_none() => Some(format!(
                        "not a code of the {} table ({})",
                        t.name,
                        t.values
                            .iter()
                            .map(|(c, _)| *c)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                    _ => None,
                },
            };
            match reason {
                Some(r) => fail(v, r),
                None => values.push(v),
            }
        }
        if ok {
            out.push(Item::Row(line, values));
        }
    }
}
