//! What a primary accepts from a follower's outbox (拠点からの再送), checked
//! before anything is appended.
//!
//! A municipal site is trusted only for what it did: certificates it issued
//! in its own 発行番号 series and signed with its own key, and access records
//! of reads there — both recorded with the site as actor (`site:<name>`),
//! never as a staff member the site names. Every item must be a kind this
//! build knows, with a payload that decodes; anything else is refused before
//! the first item of a batch is appended (a record that cannot be read would
//! otherwise sit in the chain for good).

use murakumo_ledger::{EventCodec, NewEntry};
use murakumo_tenancy::CertificateIssued;
use murakumo_tenancy::{ACCESS_KIND, AccessRecord};

use crate::certificates::{IssueNumber, parse_issue_number};
use crate::rows::Chain;

/// Who replays an outbox, by the token it sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replayer {
    /// Another centre or a node of this one (the replication token): trusted
    /// like this node (it holds the secrets and may be promoted), so the
    /// actors it names stand — a replica logs its own staff's reads.
    Centre { name: String },
    /// A municipal site (its own site token): the actor of everything it
    /// replays is the site itself.
    Site { name: String },
}

impl Replayer {
    /// The follower's name (`murakumo follow --name`).
    pub fn name(&self) -> &str {
        match self {
            Replayer::Centre { name } | Replayer::Site { name } => name,
        }
    }
}

/// Why an outbox item was refused: the field (of the item as sent) and what
/// is wrong with it. Nothing of the batch is appended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OutboxRefusal {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> OutboxRefusal {
    OutboxRefusal {
        field,
        message: message.into(),
    }
}

/// Longest dedupe key, actor and follower name accepted.
const MAX_KEY: usize = 200;
const MAX_NAME: usize = 64;
/// Largest payload of one outbox item (a certificate issuance or an access
/// record is a few hundred bytes).
pub const MAX_OUTBOX_PAYLOAD: usize = 64 * 1024;

/// Text that may go into a chain as an identifier: not empty, not longer
/// than `max` characters, no control characters.
fn plain(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

/// An outbox item that passed [`CheckedOutboxItem::check`]: what
/// [`crate::TenantStore::append_once`] appends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedOutboxItem {
    chain: Chain,
    dedupe_key: String,
    entry: NewEntry,
    /// The key a certificate was signed with: it must be the replaying
    /// site's own (checked against the signing keys when appended).
    certificate_key: Option<String>,
    site: String,
}

impl CheckedOutboxItem {
    /// Decodes and checks one item a follower replays; the entry to append
    /// (payload re-encoded, actor the site's for a site) or why not.
    pub fn check(
        by: &Replayer,
        chain: Chain,
        dedupe_key: &str,
        entry: NewEntry,
    ) -> Result<CheckedOutboxItem, OutboxRefusal> {
        let site = by.name();
        if !plain(site, MAX_NAME) || site.trim() != site {
            return Err(refuse(
                "follower",
                "the follower's name: 1 to 64 characters, no control characters or surrounding spaces",
            ));
        }
        if !plain(dedupe_key, MAX_KEY) {
            return Err(refuse(
                "dedupe_key",
                "1 to 200 characters, no control characters",
            ));
        }
        if !plain(&entry.actor, MAX_KEY) {
            return Err(refuse(
                "actor",
                "1 to 200 characters, no control characters",
            ));
        }
        if entry.payload.len() > MAX_OUTBOX_PAYLOAD {
            return Err(refuse(
                "payload",
                format!(
                    "{} bytes; an outbox item holds at most {MAX_OUTBOX_PAYLOAD}",
                    entry.payload.len()
                ),
            ));
        }
        let actor = match by {
            Replayer::Centre { .. } => entry.actor.clone(),
            Replayer::Site { name } => format!("site:{name}"),
        };
        let (entry, certificate_key) = match chain {
            Chain::Ledger => {
                let c = certificate(&entry)?;
                if dedupe_key != format!("certificate:{}", c.issue_number) {
                    return Err(refuse(
                        "dedupe_key",
                        format!(
                            "a certificate is replayed under certificate:<発行番号>, here certificate:{}",
                            c.issue_number
                        ),
                    ));
                }
                match parse_issue_number(&c.issue_number) {
                    Some(IssueNumber { site: "", .. }) => {
                        return Err(refuse(
                            "payload",
                            format!(
                                "発行番号 {} is in the centre's series; a site numbers what it issues in its own series \
                                 (e.g. R8B1-0000001, murakumo follow --site-series)",
                                c.issue_number
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        return Err(refuse(
                            "payload",
                            format!(
                                "発行番号 {:?} is not a site's number (like R8B1-0000001)",
                                c.issue_number
                            ),
                        ));
                    }
                }
                let (kind, version, payload) = c.encode();
                let key = c.key_id;
                (
                    NewEntry {
                        kind: kind.to_string(),
                        version,
                        effective_date: entry.effective_date,
                        actor,
                        payload,
                    },
                    Some(key),
                )
            }
            Chain::Access => {
                if entry.kind != ACCESS_KIND {
                    return Err(refuse(
                        "kind",
                        format!(
                            "access log items are of kind {ACCESS_KIND}, not {:?}",
                            entry.kind
                        ),
                    ));
                }
                if !dedupe_key.starts_with("access:") {
                    return Err(refuse(
                        "dedupe_key",
                        "an access record is replayed under access:<key>",
                    ));
                }
                let mut record = AccessRecord::from_payload(entry.version, &entry.payload)
                    .map_err(|e| refuse("payload", format!("not an access record: {e}")))?;
                if let Replayer::Site { .. } = by {
                    // The site says which of its staff read: kept as its
                    // statement, not as the actor.
                    record.detail = on_behalf_of(&record.detail, &entry.actor);
                }
                (record.to_entry(&actor, entry.effective_date), None)
            }
        };
        Ok(CheckedOutboxItem {
            chain,
            dedupe_key: dedupe_key.to_string(),
            entry,
            certificate_key,
            site: site.to_string(),
        })
    }

    pub fn chain(&self) -> Chain {
        self.chain
    }

    pub fn dedupe_key(&self) -> &str {
        &self.dedupe_key
    }

    /// The entry as it will be appended.
    pub fn entry(&self) -> &NewEntry {
        &self.entry
    }

    pub(crate) fn into_entry(self) -> NewEntry {
        self.entry
    }

    /// The signing key a replayed certificate names, if it is one.
    pub fn certificate_key(&self) -> Option<&str> {
        self.certificate_key.as_deref()
    }

    /// Checks who holds the key a certificate was signed with (`holder`:
    /// `None` if the tenant has no such key, else the site it belongs to, if
    /// any): a site replays only what it signed with its own key.
    pub fn check_key_holder(&self, holder: Option<Option<&str>>) -> Result<(), OutboxRefusal> {
        let Some(key) = &self.certificate_key else {
            return Ok(());
        };
        match holder {
            Some(Some(site)) if site == self.site => Ok(()),
            Some(Some(other)) => Err(refuse(
                "payload",
                format!(
                    "signing key {key} is the key of site {other}, not of {}",
                    self.site
                ),
            )),
            Some(None) => Err(refuse(
                "payload",
                format!(
                    "signing key {key} is the municipality's own key; a site signs with its own (registered at /replication/site-keys)"
                ),
            )),
            None => Err(refuse(
                "payload",
                format!(
                    "signing key {key} is not registered for this municipality; register the site's key first"
                ),
            )),
        }
    }
}

fn certificate(entry: &NewEntry) -> Result<CertificateIssued, OutboxRefusal> {
    match CertificateIssued::decode(&entry.kind, entry.version, &entry.payload) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(refuse(
            "kind",
            format!(
                "ledger items from an outbox are certificate issuances (certificate.issued), not {:?}",
                entry.kind
            ),
        )),
        Err(e) => Err(refuse(
            "payload",
            format!("not a certificate issuance: {e}"),
        )),
    }
}

/// The access record's detail with the staff member the site named.
fn on_behalf_of(detail: &str, claimed: &str) -> String {
    let note = format!("拠点の申告による職員: {claimed}");
    if detail.is_empty() {
        note
    } else {
        format!("{detail}（{note}）")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use murakumo_tenancy::AccessAction;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 4, 1).expect("date")
    }

    fn issued(number: &str) -> NewEntry {
        let (kind, version, payload) = CertificateIssued {
            issue_number: number.into(),
            kind: "resident_copy".into(),
            subjects: vec!["10000000019".into()],
            as_of: day(),
            requester: "本人".into(),
            purpose: "test".into(),
            digest: "ab".repeat(32),
            key_id: "k1".into(),
        }
        .encode();
        NewEntry {
            kind: kind.into(),
            version,
            effective_date: day(),
            actor: "staff:7".into(),
            payload,
        }
    }

    fn site() -> Replayer {
        Replayer::Site {
            name: "nobeoka".into(),
        }
    }

    #[test]
    fn a_site_certificate_in_its_own_series_is_recorded_as_the_site() {
        let item = CheckedOutboxItem::check(
            &site(),
            Chain::Ledger,
            "certificate:R8B1-0000001",
            issued("R8B1-0000001"),
        )
        .expect("accepted");
        assert_eq!(item.entry().actor, "site:nobeoka");
        assert_eq!(item.certificate_key(), Some("k1"));
        assert!(item.check_key_holder(Some(Some("nobeoka"))).is_ok());
        for holder in [None, Some(None), Some(Some("other"))] {
            assert_eq!(
                item.check_key_holder(holder).expect_err("refused").field,
                "payload"
            );
        }
    }

    #[test]
    fn the_centres_series_a_wrong_key_and_unknown_kinds_are_refused() {
        let centre = CheckedOutboxItem::check(
            &site(),
            Chain::Ledger,
            "certificate:R8-0000001",
            issued("R8-0000001"),
        )
        .expect_err("centre series");
        assert!(centre.message.contains("centre's series"), "{centre}");
        let key = CheckedOutboxItem::check(
            &site(),
            Chain::Ledger,
            "certificate:R8B1-0000002",
            issued("R8B1-0000001"),
        )
        .expect_err("key differs from the number");
        assert_eq!(key.field, "dedupe_key");
        let mut other = issued("R8B1-0000001");
        other.kind = "resident.entered".into();
        let kind =
            CheckedOutboxItem::check(&site(), Chain::Ledger, "certificate:R8B1-0000001", other)
                .expect_err("kind");
        assert_eq!(kind.field, "kind");
    }

    #[test]
    fn an_access_record_names_the_site_and_keeps_the_clerk_as_its_statement() {
        let record = AccessRecord {
            action: AccessAction::Read,
            subject: "resident:1".into(),
            purpose: "照会".into(),
            detail: "name".into(),
            request_id: "r".into(),
        };
        let entry = record.to_entry("staff:7", day());
        let item = CheckedOutboxItem::check(&site(), Chain::Access, "access:1", entry.clone())
            .expect("accepted");
        assert_eq!(item.entry().actor, "site:nobeoka");
        let stored = AccessRecord::from_payload(1, &item.entry().payload).expect("decodes");
        assert_eq!(stored.detail, "name（拠点の申告による職員: staff:7）");
        let centre = Replayer::Centre { name: "dc2".into() };
        let item =
            CheckedOutboxItem::check(&centre, Chain::Access, "access:1", entry).expect("accepted");
        assert_eq!(item.entry().actor, "staff:7");
    }

    #[test]
    fn undecodable_payloads_are_refused() {
        let mut garbage = issued("R8B1-0000001");
        garbage.payload = b"\xff\xfe\x00garbage".to_vec();
        for (chain, key, kind) in [
            (
                Chain::Ledger,
                "certificate:R8B1-0000001",
                "certificate.issued",
            ),
            (Chain::Access, "access:1", ACCESS_KIND),
        ] {
            let mut e = garbage.clone();
            e.kind = kind.into();
            let err = CheckedOutboxItem::check(&site(), chain, key, e).expect_err("garbage");
            assert_eq!(err.field, "payload", "{err}");
        }
    }
}
