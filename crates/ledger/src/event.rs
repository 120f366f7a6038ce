//! Typed events over the ledger's opaque payload bytes.
//!
//! A domain crate defines an enum of its events and implements [`EventCodec`]
//! for it. Payloads are encoded with postcard (a documented, stable binary
//! format); every kind carries a schema version, and `decode` must keep
//! reading every version ever written (upcasting old ones), because ledgers
//! are kept for decades.

use serde::{Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventDecodeError {
    #[error(
        "event kind {kind} version {version} is newer than this build understands; upgrade murakumo"
    )]
    UnknownVersion { kind: String, version: u16 },
    #[error("event {kind} v{version} payload is malformed: {reason}")]
    Malformed {
        kind: String,
        version: u16,
        reason: String,
    },
}

/// A family of domain events that can live in a ledger.
pub trait EventCodec: Sized {
    /// The `kind` prefix this family owns, e.g. `"tenancy."`.
    const NAMESPACE: &'static str;

    /// Kind, current schema version and payload bytes.
    fn encode(&self) -> (&'static str, u16, Vec<u8>);

    /// Decodes an entry of this family. `Ok(None)` if `kind` is not ours.
    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError>;
}

/// Encodes a payload struct with postcard.
pub fn encode_payload<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain data structs into a Vec cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// `EventCodec::decode` for a domain enum stored whole as the payload (at
/// version 1), one ledger kind per variant: `kinds[index(&event)]` is the
/// variant's kind. A kind outside `kinds` but inside `namespace` is an
/// unknown version (written by a newer Murakumo); a payload of another
/// variant than its kind is malformed.
pub fn decode_enum<T: DeserializeOwned>(
    kinds: &[&str],
    namespace: &str,
    index: impl Fn(&T) -> usize,
    kind: &str,
    version: u16,
    payload: &[u8],
) -> Result<Option<T>, EventDecodeError> {
    let unknown = || EventDecodeError::UnknownVersion {
        kind: kind.to_string(),
        version,
    };
    let Some(pos) = kinds.iter().position(|k| *k == kind) else {
        return if kind.starts_with(namespace) {
            Err(unknown())
        } else {
            Ok(None)
        };
    };
    if version != 1 {
        return Err(unknown());
    }
    let e: T = decode_payload(kind, version, payload)?;
    if index(&e) != pos {
        return Err(EventDecodeError::Malformed {
            kind: kind.to_string(),
            version,
            reason: "the payload is another event than its kind".into(),
        });
    }
    Ok(Some(e))
}

/// Decodes a postcard payload, naming the kind and version in the error.
pub fn decode_payload<T: DeserializeOwned>(
    kind: &str,
    version: u16,
    payload: &[u8],
) -> Result<T, EventDecodeError> {
    postcard::from_bytes(payload).map_err(|e| EventDecodeError::Malformed {
        kind: kind.to_string(),
        version,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Ev {
        Opened { name: String },
        Closed(u32),
    }

    const KINDS: [&str; 2] = ["test.opened", "test.closed"];

    fn index(e: &Ev) -> usize {
        match e {
            Ev::Opened { .. } => 0,
            Ev::Closed(_) => 1,
        }
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Ev>, EventDecodeError> {
        decode_enum(&KINDS, "test.", index, kind, version, payload)
    }

    #[test]
    fn events_round_trip_through_their_kind() {
        let opened = Ev::Opened {
            name: "深川".into(),
        };
        let bytes = encode_payload(&opened);
        assert!(bytes.len() > 1, "{bytes:?}");
        assert_eq!(decode("test.opened", 1, &bytes), Ok(Some(opened)));
        let closed = encode_payload(&Ev::Closed(7));
        assert_eq!(decode("test.closed", 1, &closed), Ok(Some(Ev::Closed(7))));
        assert_eq!(
            decode_payload::<Ev>("test.closed", 1, &closed),
            Ok(Ev::Closed(7))
        );
    }

    #[test]
    fn other_kinds_versions_and_payloads_are_told_apart() {
        let closed = encode_payload(&Ev::Closed(7));
        // Another family's kind is not ours.
        assert_eq!(decode("seal.registered", 1, &closed), Ok(None));
        // A kind of ours this build does not know, or a newer version: written
        // by a newer Murakumo.
        assert_eq!(
            decode("test.reopened", 1, &closed),
            Err(EventDecodeError::UnknownVersion {
                kind: "test.reopened".into(),
                version: 1
            })
        );
        assert_eq!(
            decode("test.closed", 2, &closed),
            Err(EventDecodeError::UnknownVersion {
                kind: "test.closed".into(),
                version: 2
            })
        );
        // A payload of another variant than its kind, or no event at all.
        assert!(matches!(
            decode("test.opened", 1, &closed),
            Err(EventDecodeError::Malformed { .. })
        ));
        assert!(matches!(
            decode("test.closed", 1, &[0xff, 0xff]),
            Err(EventDecodeError::Malformed { .. })
        ));
    }
}
