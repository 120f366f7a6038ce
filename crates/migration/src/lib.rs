//! The standard migration format (移行データ標準フォーマット) of Murakumo:
//! how a municipality's resident register goes in from a legacy system and
//! out again, losslessly, in documented files (`docs/migration-format.md`).
//!
//! - [`layout`]: the record layouts and code tables (version 1.1), after the
//!   Hokkaido model's 01.住民基本台帳 and the national 中間標準レイアウト:
//!   01-01 住民基本台帳, 01-02 異動履歴 and 02-01 印鑑登録.
//! - [`seal`]: 02-01 印鑑登録 records, their 印影 files and the 公印, checked
//!   with the seal crate's rules against the register as of each 登録日.
//! - [`text`]: CP932 and UTF-8, the per-municipality 外字対応表, and the
//!   escapes for characters Shift_JIS cannot hold (`&MJ012345;`, `&#x20BB7;`).
//! - [`read`] validates a whole data set, reporting every problem with file,
//!   line, field, value and reason; [`write`] writes one deterministically.
//! - [`MigrationEvent`]: the ledger entries an import leaves (the 外字 table,
//!   the import's digest, which makes re-imports change nothing).
//! - [`synth`]: the synthetic data generator (`murakumo gen`, the demo, the
//!   benchmarks).
//!
//! Pure apart from reading and writing the files it is given: it knows no
//! database. Recording the events is the store's job (`TenantStore::import`).
//! Not covered yet: tax and NHI.

pub mod convert;
mod event;
pub mod layout;
pub mod manifest;
pub mod read;
pub mod seal;
pub mod synth;
pub mod text;
pub mod write;

pub use convert::Dated;
pub use event::MigrationEvent;
pub use manifest::{Form, Manifest};
pub use read::{Dataset, Inputs, Problem, ReadError, ReadOptions, Rejected, read};
pub use seal::DatedSeal;
pub use text::{Encoding, GaijiEntry, GaijiTable};
pub use write::{Contents, WriteError, WriteOptions, write_dir};
