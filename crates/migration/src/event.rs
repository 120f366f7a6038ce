//! Ledger events of migration (`migration.*` kinds): the tenant's 外字対応表
//! and the record of each import. Both live in the ledger like everything
//! else, so backups, replicas and exports carry them.

use murakumo_ledger::{EventCodec, EventDecodeError, decode_enum, encode_payload};
use serde::{Deserialize, Serialize};

use crate::text::GaijiEntry;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MigrationEvent {
    /// The municipality's 外字対応表 as of this entry (replaces earlier ones).
    GaijiTableSet { entries: Vec<GaijiEntry> },
    /// A data set was imported: its content digest and what it held.
    /// A second import of the same digest changes nothing.
    Imported {
        digest: String,
        format_version: String,
        residents: u64,
        events: u64,
    },
}

const KINDS: [&str; 2] = ["migration.gaiji_table_set", "migration.imported"];

impl MigrationEvent {
    fn index(&self) -> usize {
        match self {
            MigrationEvent::GaijiTableSet { .. } => 0,
            MigrationEvent::Imported { .. } => 1,
        }
    }
}

impl EventCodec for MigrationEvent {
    const NAMESPACE: &'static str = "migration.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        (KINDS[self.index()], 1, encode_payload(self))
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        decode_enum(
            &KINDS,
            Self::NAMESPACE,
            MigrationEvent::index,
            kind,
            version,
            payload,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_the_kind() {
        let e = MigrationEvent::Imported {
            digest: "ab".into(),
            format_version: "1.0".into(),
            residents: 3,
            events: 4,
        };
        let (k, v, p) = e.encode();
        assert_eq!(MigrationEvent::decode(k, v, &p), Ok(Some(e)));
        assert!(MigrationEvent::decode("migration.gaiji_table_set", 1, &p).is_err());
        assert_eq!(MigrationEvent::decode("resident.entered", 1, &p), Ok(None));
    }
}
