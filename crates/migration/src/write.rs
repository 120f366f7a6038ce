//! Writing a data set: 01-02 異動履歴 in ledger order, 01-01 住民基本台帳
//! replayed from it in 住民票コード order, 02-01 印鑑登録 in ledger order with
//! its 印影 files, the 公印, the 外字対応表 and the manifest.
//! Deterministic: the same events and table give the same bytes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use murakumo_core::TenantCode;
use murakumo_resident::Record;

use murakumo_seal::SealEvent;

use crate::convert::{Dated, base_row, history_row};
use crate::layout::{Kind, Layout, base, history, seal};
use crate::manifest::{FileEntry, Form, GAIJI_FILE, MANIFEST_FILE, Manifest};
use crate::seal::{
    DatedSeal, IMAGE_DIR, IMAGE_LAYOUT, OFFICIAL_SEAL_FILE, OFFICIAL_SEAL_LAYOUT, check_number,
    image_name, seal_row,
};
use crate::text::{Encoding, GaijiTable, code_points, encode_text};

/// Why a data set could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} {}: 住民票コード {}, {}: {:?} is {} bytes in {}, the item holds {}; the format cannot carry it",
        .0.layout, .0.name, .0.resident, .0.field, .0.value, .0.bytes, .0.encoding, .0.max
    )]
    TooLong(Box<BadValue>),
    #[error(
        "{} {}: 住民票コード {}, {}: {:?} is not printable ASCII, which an X item needs",
        .0.layout, .0.name, .0.resident, .0.field, .0.value
    )]
    NotAscii(Box<BadValue>),
    #[error("the events do not replay (the ledger is inconsistent): {0}")]
    Replay(String),
    #[error("02-01 印鑑登録: 印鑑登録番号 {number:?} cannot be written: {reason}")]
    SealNumber { number: String, reason: String },
}

/// What a data set holds: the register, its seals and the 外字 table.
#[derive(Clone, Copy, Debug)]
pub struct Contents<'a> {
    pub gaiji: &'a GaijiTable,
    /// Resident events (01-02), in ledger order.
    pub events: &'a [Dated],
    /// Seal events (02-01), in ledger order.
    pub seals: &'a [DatedSeal],
    /// The 公印 (PNG), if the municipality has one.
    pub official_seal: Option<&'a [u8]>,
}

/// A value that does not fit its item.
#[derive(Debug)]
pub struct BadValue {
    pub layout: &'static str,
    pub name: &'static str,
    pub resident: String,
    pub field: &'static str,
    pub value: String,
    pub bytes: usize,
    pub max: usize,
    pub encoding: &'static str,
}

/// How to write.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    pub encoding: Encoding,
    pub form: Form,
}

/// Replays events into the final record of every resident.
pub fn replay_all(events: &[Dated]) -> Result<BTreeMap<String, Record>, String> {
    let mut records: BTreeMap<String, Record> = BTreeMap::new();
    for d in events {
        let code = d.event.resident_code();
        let current = records.remove(code);
        let r = murakumo_resident::apply(current, &d.event, d.effective)
            .map_err(|e| format!("{code}: {e}"))?;
        records.insert(code.to_string(), r);
    }
    Ok(records)
}

/// Writes the data set into `dir` (created if missing). Each file is written
/// beside its final name and renamed into place, the manifest last.
pub fn write_dir(
    dir: &Path,
    municipality: &TenantCode,
    contents: Contents<'_>,
    opts: WriteOptions,
) -> Result<Manifest, WriteError> {
    let Contents {
        gaiji,
        events,
        seals,
        official_seal,
    } = contents;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let m5 = municipality.as_five_digits();
    let records = replay_all(events).map_err(WriteError::Replay)?;
    // The 印影 files on a thread of their own: creating 20,000 small files
    // is mostly the kernel's work, and overlaps with encoding the register.
    let mut files = std::thread::scope(|s| -> Result<Vec<FileEntry>, WriteError> {
        let images = s.spawn(|| write_images(dir, seals));
        let mut files = Vec::new();
        let mut w = RowWriter::create(dir, &history::LAYOUT, opts, gaiji)?;
        for (i, d) in events.iter().enumerate() {
            w.row(&history_row(m5, i as u64 + 1, d), d.event.resident_code())?;
        }
        files.push(w.finish()?);

        let mut w = RowWriter::create(dir, &base::LAYOUT, opts, gaiji)?;
        for r in records.values() {
            w.row(&base_row(m5, r), &r.resident_code)?;
        }
        files.push(w.finish()?);

        let mut w = RowWriter::create(dir, &seal::LAYOUT, opts, gaiji)?;
        for (i, d) in seals.iter().enumerate() {
            w.row(&seal_row(m5, i as u64 + 1, d), d.event.resident_code())?;
        }
        files.push(w.finish()?);
        let images = images
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        files.extend(images);
        Ok(files)
    })?;

    if let Some(png) = official_seal {
        files.push(write_file(
            dir,
            OFFICIAL_SEAL_FILE,
            OFFICIAL_SEAL_LAYOUT,
            png,
        )?);
    }
    files.push(write_gaiji(dir, gaiji)?);
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let manifest = Manifest::new(municipality, opts, files);
    let path = dir.join(MANIFEST_FILE);
    let mut text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    text.push('\n');
    atomic_write(&path, text.as_bytes()).map_err(io(&path))?;
    Ok(manifest)
}

/// Writes the 印影 of every registration into `02-01_inkan/`, each under
/// its checked 印鑑登録番号 (which therefore cannot name another path).
fn write_images(dir: &Path, seals: &[DatedSeal]) -> Result<Vec<FileEntry>, WriteError> {
    let mut files = Vec::new();
    for d in seals {
        let number = d.event.registration_number();
        check_number(number).map_err(|reason| WriteError::SealNumber {
            number: number.into(),
            reason,
        })?;
        if let SealEvent::Registered { impression_png, .. } = &d.event {
            if files.is_empty() {
                let images = dir.join(IMAGE_DIR);
                std::fs::create_dir_all(&images).map_err(|source| WriteError::Io {
                    path: images,
                    source,
                })?;
            }
            // Written in place, not through a temporary file and a rename
            // like the others: half the directory operations for 20,000
            // files, and the data set is whole only once manifest.json, the
            // last file written, lists them with their checksums.
            let name = image_name(number);
            let path = dir.join(&name);
            std::fs::write(&path, impression_png)
                .map_err(|source| WriteError::Io { path, source })?;
            files.push(whole_file_entry(&name, IMAGE_LAYOUT, impression_png));
        }
    }
    Ok(files)
}

fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The 外字対応表 file: UTF-8 CSV, one row per entry, in code order.
pub fn gaiji_csv(gaiji: &GaijiTable) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let _ = w.write_record(["外字コード", "MJ文字図形名", "対応文字", "UCS", "備考"]);
    for e in gaiji.entries() {
        let _ = w.write_record([
            e.code_label().as_str(),
            e.mj.as_deref().unwrap_or(""),
            e.ucs.as_str(),
            code_points(&e.ucs).as_str(),
            e.note.as_str(),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

fn write_gaiji(dir: &Path, gaiji: &GaijiTable) -> Result<FileEntry, WriteError> {
    let bytes = gaiji_csv(gaiji);
    let mut entry = write_file(dir, GAIJI_FILE, "gaiji", &bytes)?;
    entry.records = gaiji.entries().len() as u64;
    Ok(entry)
}

/// Writes one whole file (`name` relative to `dir`, `/`-separated) and
/// returns its manifest entry (1 record).
fn write_file(dir: &Path, name: &str, layout: &str, bytes: &[u8]) -> Result<FileEntry, WriteError> {
    let path = dir.join(name);
    atomic_write(&path, bytes).map_err(|source| WriteError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(whole_file_entry(name, layout, bytes))
}

/// The manifest entry of a file that is one record (an image, a table).
fn whole_file_entry(name: &str, layout: &str, bytes: &[u8]) -> FileEntry {
    FileEntry {
        name: name.into(),
        layout: layout.into(),
        records: 1,
        bytes: bytes.len() as u64,
        blake3: blake3::hash(bytes).to_hex().to_string(),
    }
}

/// Writes rows of one layout, counting and hashing as it goes.
struct RowWriter<'a> {
    layout: &'static Layout,
    opts: WriteOptions,
    gaiji: &'a GaijiTable,
    path: PathBuf,
    tmp: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    hasher: blake3::Hasher,
    records: u64,
    bytes: u64,
    line: Vec<u8>,
    scratch: Vec<u8>,
}

impl<'a> RowWriter<'a> {
    fn create(
        dir: &Path,
        layout: &'static Layout,
        opts: WriteOptions,
        gaiji: &'a GaijiTable,
    ) -> Result<RowWriter<'a>, WriteError> {
        let path = dir.join(format!("{}.{}", layout.stem, opts.form.extension()));
        let tmp = path.with_extension("part");
        let file = std::fs::File::create(&tmp).map_err(|source| WriteError::Io {
            path: tmp.clone(),
            source,
        })?;
        let mut w = RowWriter {
            layout,
            opts,
            gaiji,
            path,
            tmp,
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            hasher: blake3::Hasher::new(),
            records: 0,
            bytes: 0,
            line: Vec::with_capacity(layout.record_bytes() + 2),
            scratch: Vec::new(),
        };
        if opts.form == Form::Csv {
            let names: Vec<String> = layout.fields.iter().map(|f| f.name.to_string()).collect();
            w.line.clear();
            let cells: Vec<Vec<u8>> = names
                .iter()
                .map(|n| {
                    let mut b = Vec::new();
                    encode_text(n, opts.encoding, gaiji, &mut b);
                    b
                })
                .collect();
            csv_line(&cells, &mut w.line);
            w.emit()?;
        }
        Ok(w)
    }

    fn row(&mut self, values: &[String], resident: &str) -> Result<(), WriteError> {
        self.line.clear();
        let mut cells: Vec<Vec<u8>> = Vec::new();
        for (f, v) in self.layout.fields.iter().zip(values) {
            let v = v.trim_end_matches([' ', '\u{3000}']);
            if f.kind != Kind::N && !v.bytes().all(|b| (0x20..0x7F).contains(&b)) {
                return Err(WriteError::NotAscii(Box::new(BadValue {
                    layout: self.layout.id,
                    name: self.layout.name,
                    resident: resident.into(),
                    field: f.name,
                    value: v.into(),
                    bytes: v.len(),
                    max: f.bytes,
                    encoding: self.opts.encoding.name(),
                })));
            }
            self.scratch.clear();
            encode_text(v, self.opts.encoding, self.gaiji, &mut self.scratch);
            if self.scratch.len() > f.bytes {
                return Err(WriteError::TooLong(Box::new(BadValue {
                    layout: self.layout.id,
                    name: self.layout.name,
                    resident: resident.into(),
                    field: f.name,
                    value: v.into(),
                    bytes: self.scratch.len(),
                    max: f.bytes,
                    encoding: self.opts.encoding.name(),
                })));
            }
            match self.opts.form {
                Form::Fixed => {
                    self.line.extend_from_slice(&self.scratch);
                    self.line
                        .resize(self.line.len() + f.bytes - self.scratch.len(), b' ');
                }
                Form::Csv => cells.push(self.scratch.clone()),
            }
        }
        match self.opts.form {
            Form::Fixed => self.line.extend_from_slice(b"\r\n"),
            Form::Csv => csv_line(&cells, &mut self.line),
        }
        self.records += 1;
        self.emit()
    }

    fn emit(&mut self) -> Result<(), WriteError> {
        self.hasher.update(&self.line);
        self.bytes += self.line.len() as u64;
        self.out
            .write_all(&self.line)
            .map_err(|source| WriteError::Io {
                path: self.tmp.clone(),
                source,
            })
    }

    fn finish(mut self) -> Result<FileEntry, WriteError> {
        let io = |source| WriteError::Io {
            path: self.tmp.clone(),
            source,
        };
        self.out.flush().map_err(io)?;
        self.out.get_ref().sync_all().map_err(io)?;
        std::fs::rename(&self.tmp, &self.path).map_err(|source| WriteError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(FileEntry {
            name: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            layout: self.layout.id.into(),
            records: self.records,
            bytes: self.bytes,
            blake3: self.hasher.finalize().to_hex().to_string(),
        })
    }
}

/// One CSV record (RFC 4180, CR LF): a cell is quoted when it holds a comma,
/// a quote or a line break. Shift_JIS trail bytes are 0x40 or above, so the
/// ASCII delimiters never occur inside a double-byte character.
fn csv_line(cells: &[Vec<u8>], out: &mut Vec<u8>) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if c.iter().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
            out.push(b'"');
            for &b in c {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(c);
        }
    }
    out.extend_from_slice(b"\r\n");
}
