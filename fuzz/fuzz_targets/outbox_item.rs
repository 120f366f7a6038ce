//! What a primary accepts from a municipal site's outbox
//! (`OutboxEntryWire::decode`, then `CheckedOutboxItem::check`).
//!
//! The first byte picks a mode:
//! - json (`% 2 == 0`): the rest is a whole `OutboxRequest` as JSON; every
//!   item that parses is checked as sent by a site named in the request.
//! - crafted (`% 2 == 1`): `flags:u8` then the payload bytes; the target
//!   wraps them in an item that passes everything but the payload (a site's
//!   number and key, an access key), so the decoders of the certificate and
//!   access record are what the fuzzer reaches.
//!
//! Must not panic; an accepted item is a known kind whose payload decodes,
//! a certificate of a site's own series under `certificate:<発行番号>`, and
//! for a site token the site as actor.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use libfuzzer_sys::fuzz_target;
use murakumo_ledger::EventCodec;
use murakumo_replication::wire::{OutboxEntryWire, OutboxRequest};
use murakumo_tenancy::CertificateIssued;
use murakumo_store::{Chain, Replayer, parse_issue_number};
use murakumo_tenancy::{ACCESS_KIND, AccessRecord};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let Ok(req) = serde_json::from_slice::<OutboxRequest>(rest) else {
            return;
        };
        let by = Replayer::Site {
            name: req.follower.clone(),
        };
        for item in &req.items {
            check(item, &by);
        }
        return;
    }
    let Some((&flags, payload)) = rest.split_first() else {
        return;
    };
    let ledger = flags & 1 == 0;
    let item = OutboxEntryWire {
        tenant: "011002".into(),
        chain: if ledger { "ledger" } else { "access" }.into(),
        dedupe_key: if ledger {
            "certificate:R8B1-0000001"
        } else {
            "access:1"
        }
        .into(),
        kind: if ledger {
            "certificate.issued"
        } else {
            ACCESS_KIND
        }
        .into(),
        version: u16::from(flags >> 4),
        effective_date: "2026-04-01".into(),
        actor: "staff:1".into(),
        payload: B64.encode(payload),
    };
    let by = if flags & 2 == 0 {
        Replayer::Site {
            name: "nobeoka".into(),
        }
    } else {
        Replayer::Centre { name: "dc2".into() }
    };
    check(&item, &by);
});

fn check(item: &OutboxEntryWire, by: &Replayer) {
    let (_, checked) = match item.decode(by) {
        Ok(ok) => ok,
        Err(e) => {
            assert!(!e.message.is_empty());
            let _ = e.to_string();
            return;
        }
    };
    let entry = checked.entry();
    if let Replayer::Site { name } = by {
        assert_eq!(entry.actor, format!("site:{name}"));
    }
    match checked.chain() {
        Chain::Ledger => {
            let c = CertificateIssued::decode(&entry.kind, entry.version, &entry.payload)
                .expect("an accepted certificate decodes")
                .expect("and is one");
            let n = parse_issue_number(&c.issue_number).expect("a 発行番号");
            assert!(
                !n.site.is_empty(),
                "a site's own series: {}",
                c.issue_number
            );
            assert_eq!(
                checked.dedupe_key(),
                format!("certificate:{}", c.issue_number)
            );
        }
        Chain::Access => {
            assert_eq!(entry.kind, ACCESS_KIND);
            AccessRecord::from_payload(entry.version, &entry.payload)
                .expect("an accepted access record decodes");
        }
    }
}
