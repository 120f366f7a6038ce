//! What a primary and a follower read from each other, on hostile input: the
//! frames of a pull answer (`FrameReader`) and the items of a site's outbox
//! (`OutboxEntryWire::decode`). A cheap stand-in for the cargo-fuzz targets
//! `replication_frames` and `outbox_item` in `fuzz/`: thousands of random
//! and damaged inputs, none of which may panic, and whatever is accepted
//! keeps the promises the primary relies on.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::NaiveDate;
use murakumo_ledger::EventCodec;
use murakumo_replication::wire::{
    FrameReader, OutboxEntryWire, OutboxRequest, put_frame, take_frames_limited,
};
use murakumo_store::{Chain, Replayer, parse_issue_number};
use murakumo_tenancy::CertificateIssued;
use murakumo_tenancy::{ACCESS_KIND, AccessAction, AccessRecord};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---- frames ----

proptest! {
    #![proptest_config(config(3000))]

    /// Any bytes, cut into any chunks, with a small limit: never a panic,
    /// never a frame above the limit, never more held than one frame of
    /// the limit and its header; what is read is exactly the input's frames.
    #[test]
    fn frames_from_any_bytes_in_any_chunks(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(0usize..600, 0..8),
        limit in 0usize..300,
    ) {
        let mut reader = FrameReader::with_limit(limit);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut from = 0;
        let mut read = Vec::new();
        let mut refused = false;
        for to in cuts {
            match reader.push(&bytes[from..to]) {
                Ok(frames) => {
                    for f in &frames {
                        prop_assert!(f.len() <= limit);
                    }
                    read.extend(frames);
                    // At most one frame not yet whole: its header and less
                    // than its (allowed) length.
                    prop_assert!(reader.pending() <= limit + 3);
                }
                Err(e) => {
                    let _ = e.to_string();
                    refused = true;
                    break;
                }
            }
            from = to;
        }
        if !refused {
            let mut again = Vec::new();
            for f in &read {
                put_frame(&mut again, f);
            }
            prop_assert_eq!(&bytes[..again.len()], &again[..]);
            prop_assert_eq!(again.len() + reader.pending(), bytes.len());
            let (whole, used) = take_frames_limited(&bytes, limit).expect("read in one piece too");
            prop_assert_eq!(whole.len(), read.len());
            prop_assert_eq!(used, again.len());
        } else {
            prop_assert!(take_frames_limited(&bytes, limit).is_err());
        }
    }

    /// Frames that were put are read back, whatever the chunks.
    #[test]
    fn put_frames_are_read_back(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
        chunk in 1usize..40,
    ) {
        let mut body = Vec::new();
        for f in &frames {
            put_frame(&mut body, f);
        }
        let mut reader = FrameReader::with_limit(64);
        let mut read = Vec::new();
        for c in body.chunks(chunk) {
            read.extend(reader.push(c).expect("within the limit"));
        }
        prop_assert_eq!(read, frames);
        prop_assert_eq!(reader.pending(), 0);
    }
}

// ---- outbox items ----

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, 1).expect("date")
}

fn certificate(number: String, key: String) -> Vec<u8> {
    CertificateIssued {
        issue_number: number,
        kind: "resident_copy".into(),
        subjects: vec!["10000000019".into()],
        as_of: day(),
        requester: "本人".into(),
        purpose: "test".into(),
        digest: "ab".repeat(32),
        key_id: key,
    }
    .encode()
    .2
}

fn access(detail: String) -> Vec<u8> {
    AccessRecord {
        action: AccessAction::Read,
        subject: "resident:1".into(),
        purpose: "照会".into(),
        detail,
        request_id: "r".into(),
    }
    .to_entry("staff:1", day())
    .payload
}

/// Items near the valid ones: real payloads (possibly damaged), numbers in
/// either series, odd keys, actors and kinds.
fn arb_item() -> impl Strategy<Value = OutboxEntryWire> {
    let number = prop_oneof![
        "R8B1-[0-9]{7}",
        "R8-[0-9]{7}",
        "[A-Z0-9]{1,6}-[0-9]{1,9}",
        "\\PC{0,12}"
    ];
    let payload = prop_oneof![
        (number.clone(), "[a-z0-9]{1,16}").prop_map(|(n, k)| certificate(n, k)),
        "\\PC{0,40}".prop_map(access),
        prop::collection::vec(any::<u8>(), 0..80),
    ];
    let damage = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3);
    (
        prop_oneof![
            Just("011002".to_string()),
            Just("131016".to_string()),
            "\\PC{0,8}"
        ],
        prop_oneof![
            Just("ledger".to_string()),
            Just("access".to_string()),
            "[a-z]{0,8}"
        ],
        prop_oneof![
            number.prop_map(|n| format!("certificate:{n}")),
            "access:[a-z0-9]{1,8}",
            "\\PC{0,20}"
        ],
        prop_oneof![
            Just("certificate.issued".to_string()),
            Just(ACCESS_KIND.to_string()),
            "[a-z.]{0,20}"
        ],
        prop_oneof![Just(1u16), any::<u16>()],
        prop_oneof![Just("2026-04-01".to_string()), "\\PC{0,12}"],
        prop_oneof![Just("staff:s-clerk".to_string()), "\\PC{0,30}"],
        payload,
        damage,
        any::<bool>(),
    )
        .prop_map(
            |(
                tenant,
                chain,
                dedupe_key,
                kind,
                version,
                effective_date,
                actor,
                mut payload,
                damage,
                raw,
            )| {
                for (at, byte) in damage {
                    if !payload.is_empty() {
                        let i = at.index(payload.len());
                        payload[i] = byte;
                    }
                }
                OutboxEntryWire {
                    tenant,
                    chain,
                    dedupe_key,
                    kind,
                    version,
                    effective_date,
                    actor,
                    payload: if raw {
                        String::from_utf8_lossy(&payload).to_string()
                    } else {
                        B64.encode(&payload)
                    },
                }
            },
        )
}

fn arb_replayer() -> impl Strategy<Value = Replayer> {
    prop_oneof![
        prop_oneof![Just("nobeoka".to_string()), "\\PC{0,70}"]
            .prop_map(|name| Replayer::Site { name }),
        Just(Replayer::Centre { name: "dc2".into() }),
    ]
}

proptest! {
    #![proptest_config(config(4000))]

    /// No item panics the check; an accepted one is what the primary may
    /// append: a known kind whose payload decodes, a certificate in a
    /// site's own series under its own key, the site as actor.
    #[test]
    fn outbox_items_are_checked_without_panicking(item in arb_item(), by in arb_replayer()) {
        match item.decode(&by) {
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                let _ = e.to_string();
            }
            Ok((_, checked)) => {
                let entry = checked.entry();
                if let Replayer::Site { name } = &by {
                    prop_assert_eq!(&entry.actor, &format!("site:{name}"));
                }
                match checked.chain() {
                    Chain::Ledger => {
                        let c = CertificateIssued::decode(&entry.kind, entry.version, &entry.payload)
                            .expect("decodes")
                            .expect("a certificate");
                        let n = parse_issue_number(&c.issue_number).expect("a 発行番号");
                        prop_assert!(!n.site.is_empty(), "a site's series: {}", c.issue_number);
                        prop_assert_eq!(checked.dedupe_key(), format!("certificate:{}", c.issue_number));
                        prop_assert_eq!(checked.certificate_key(), Some(c.key_id.as_str()));
                    }
                    Chain::Access => {
                        prop_assert_eq!(entry.kind.as_str(), ACCESS_KIND);
                        AccessRecord::from_payload(entry.version, &entry.payload).expect("decodes");
                        prop_assert!(checked.certificate_key().is_none());
                    }
                }
            }
        }
    }

    /// Whole batches as bytes: whatever parses is checked item by item
    /// without panicking.
    #[test]
    fn outbox_batches_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(req) = serde_json::from_slice::<OutboxRequest>(&bytes) {
            let by = Replayer::Site { name: req.follower.clone() };
            for item in &req.items {
                let _ = item.decode(&by);
            }
        }
    }
}
