//! `manifest.json`: what a data set holds, with counts and checksums. It has
//! no timestamps or instance ids, so the same data gives the same manifest.

use murakumo_core::TenantCode;
use serde::{Deserialize, Serialize};

use crate::text::Encoding;
use crate::write::WriteOptions;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const GAIJI_FILE: &str = "gaiji.csv";
/// The format's name in the manifest.
pub const FORMAT: &str = "murakumo-migration";
/// The format version this build writes.
pub const VERSION: &str = "1.3";
/// The format versions this build reads: 1.0 (no 02-01 印鑑登録, no 公印),
/// 1.1, 1.2 (adds 異動事由 15 転出取消) and 1.3 (adds 22/23 旧氏記載・削除 and 24/25
/// 通称記載・削除).
pub const READS: [&str; 4] = ["1.0", "1.1", "1.2", "1.3"];

/// Fixed-length records or CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    /// 固定長: `.dat`, CR LF after each record.
    Fixed,
    /// CSV with a header row of 項目名: `.csv`.
    Csv,
}

impl Form {
    pub fn extension(self) -> &'static str {
        match self {
            Form::Fixed => "dat",
            Form::Csv => "csv",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    /// `01-01`, `01-02`, `02-01`, `gaiji`, `02-01-image` (an 印影) or
    /// `koin` (the 公印).
    pub layout: String,
    /// Records (lines, without the CSV header); 1 for an image.
    pub records: u64,
    pub bytes: u64,
    /// BLAKE3 of the whole file, hex.
    pub blake3: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: String,
    /// 全国地方公共団体コード (6 digits).
    pub municipality: String,
    pub encoding: Encoding,
    pub form: Form,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    pub fn new(municipality: &TenantCode, opts: WriteOptions, files: Vec<FileEntry>) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION.into(),
            municipality: municipality.as_str().into(),
            encoding: opts.encoding,
            form: opts.form,
            files,
        }
    }

    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }
}
