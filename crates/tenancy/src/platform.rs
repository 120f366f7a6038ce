//! Events of the platform's own chain (docs/design/platform-chain.md): its operators (運用者)
//! the 県版 settings and the sealed secrets of signing keys. None of them is personal data of
//! residents.

use murakumo_ledger::{EventCodec, EventDecodeError, decode_enum, encode_payload};
use serde::{Deserialize, Serialize};

/// One entry of the platform's chain. Stored whole at version 1; add variants only at the
/// end and never fields to a variant (postcard payloads are read by position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlatformEvent {
    /// A platform operator is created.
    OperatorCreated {
        operator_id: String,
        login: String,
        display_name: String,
        /// PHC string (argon2id).
        password_hash: String,
        /// When the operator was first recorded, if before its entry: an operator of a
        /// database older than the platform chain, adopted into it.
        adopted_at: Option<i64>,
    },
    /// A 県版 value is set (`Some`) or cleared (`None`) for a prefecture (2 digits).
    PrefectureSettingChanged {
        prefecture: String,
        key: String,
        value: Option<String>,
        /// When the change was first recorded, if before its entry (adopted history).
        adopted_at: Option<i64>,
    },
    /// The secret half of a municipality's signing key (or, on a municipal site, of the
    /// site's own), sealed under this platform's key (`--platform-key-file`): only a node
    /// given that key can sign with it. Its public half is a `tenancy.signing_key_published`
    /// entry of the municipality's ledger.
    SigningKeySealed {
        tenant: String,
        key_id: String,
        public_key: Vec<u8>,
        site: Option<String>,
        /// XChaCha20-Poly1305: nonce (24 bytes), then ciphertext and tag.
        sealed: Vec<u8>,
    },
}

const KINDS: [&str; 3] = [
    "platform.operator_created",
    "platform.prefecture_setting_changed",
    "platform.signing_key_sealed",
];

impl PlatformEvent {
    fn index(&self) -> usize {
        match self {
            PlatformEvent::OperatorCreated { .. } => 0,
            PlatformEvent::PrefectureSettingChanged { .. } => 1,
            PlatformEvent::SigningKeySealed { .. } => 2,
        }
    }
}

impl EventCodec for PlatformEvent {
    const NAMESPACE: &'static str = "platform.";

    fn encode(&self) -> (&'static str, u16, Vec<u8>) {
        (KINDS[self.index()], 1, encode_payload(self))
    }

    fn decode(kind: &str, version: u16, payload: &[u8]) -> Result<Option<Self>, EventDecodeError> {
        decode_enum(
            &KINDS,
            Self::NAMESPACE,
            PlatformEvent::index,
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
    fn events_round_trip_under_their_kinds() {
        let events = [
            PlatformEvent::OperatorCreated {
                operator_id: "op-1".into(),
                login: "unyo".into(),
                display_name: "運用 太郎".into(),
                password_hash: "$argon2id$…".into(),
                adopted_at: None,
            },
            PlatformEvent::PrefectureSettingChanged {
                prefecture: "01".into(),
                key: "tax.light_vehicle.due_date".into(),
                value: None,
                adopted_at: Some(1_700_000_000_000_000),
            },
            PlatformEvent::SigningKeySealed {
                tenant: "016489".into(),
                key_id: "0123456789abcdef".into(),
                public_key: vec![7; 32],
                site: None,
                sealed: vec![1; 72],
            },
        ];
        for (e, kind) in events.iter().zip(KINDS) {
            let (k, v, payload) = e.encode();
            assert_eq!(k, kind);
            assert_eq!(PlatformEvent::decode(k, v, &payload), Ok(Some(e.clone())));
        }
        assert_eq!(
            PlatformEvent::decode("tenancy.setting_changed", 1, &[]),
            Ok(None)
        );
        assert!(PlatformEvent::decode("platform.operator_disabled", 1, &[]).is_err());
    }
}
