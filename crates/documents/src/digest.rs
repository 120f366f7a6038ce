//! The certified digest: what makes two certificates "certify the same".
//!
//! `certified_digest(c) = BLAKE3(canonical_encoding(c))`, where the canonical encoding (version 1,
//! frozen: a change of any byte below would make old signatures unverifiable, so a new layout
//! gets a new magic instead) is:
//!
//! ```text
//! magic      "murakumo-certificate-v1\0"   (24 bytes)
//! kind       u8   1 ResidentCopy, 2 ResidentRecordStatement, 3 RemovedRecordCopy,
//!                 4 SealCertificate
//! tenant_code, tenant_name, issuer_title, issuer_name            str
//! issue_date, as_of                                              date
//! household_head                                                 str
//! address.text, address.katagaki                                 str, opt(str)
//! options    u8 bit field: 1 whole_household, 2 honseki, 4 relationship,
//!            8 resident_code, 16 individual_number
//! members    u32 count, then per member:
//!              name, kana (str), birth_date (date), sex (u8: 1 男, 2 女),
//!              relationship (str), resident_code, individual_number, honseki,
//!              honseki_head (opt(str)), became_resident_date (opt(date)),
//!              previous_address (opt(str)), notes (u32 count, then str each)
//! seal_registration_number                                       opt(str)
//! seal_image, official_seal_image                                opt(bytes)
//! then, only when the certificate has a verify_url (extension, after the frozen part):
//! "verify_url\0" (11 bytes), verify_url                          str
//! then, only when some member has an address_since (extension, after the one above):
//! "address_since\0" (14 bytes), per member in order: opt(date)
//!
//! str   = u32 big-endian byte length, then the UTF-8 bytes exactly as given (no normalization)
//! bytes = u32 big-endian length, then the bytes
//! date  = i32 big-endian year, u8 month, u8 day (proleptic Gregorian)
//! opt(x)= u8 0 (absent) | u8 1 followed by x
//! ```
//!
//! Every field is length-prefixed, so the frozen part is self-delimiting: a certificate without
//! an extension encodes exactly as before it (old signatures verify), and one with it can never
//! encode like one without; the extensions' tags differ in their first byte.
//!
//! Left out, on purpose: `issue_number` (発行番号), `issue_time` and the signature. Everything
//! else — including the 和暦 issue date, the issuer and both images — is certified content.

use chrono::{Datelike, NaiveDate};

use crate::certificate::{Certificate, CertificateOptions};

/// First bytes of the canonical encoding, naming its version.
pub const CANONICAL_MAGIC: &[u8] = b"murakumo-certificate-v1\0";

/// BLAKE3 of the [canonical encoding](self) of everything the certificate certifies.
pub fn certified_digest(cert: &Certificate) -> [u8; 32] {
    *blake3::hash(&canonical_encoding(cert)).as_bytes()
}

/// The canonical encoding described in the [module docs](self).
pub fn canonical_encoding(cert: &Certificate) -> Vec<u8> {
    let mut e = Encoder(Vec::with_capacity(1024));
    e.0.extend_from_slice(CANONICAL_MAGIC);
    e.u8(cert.kind.code());
    e.str(&cert.tenant_code);
    e.str(&cert.tenant_name);
    e.str(&cert.issuer_title);
    e.str(&cert.issuer_name);
    e.date(cert.issue_date);
    e.date(cert.as_of);
    e.str(&cert.household_head);
    e.str(&cert.address.text);
    e.opt_str(cert.address.katagaki.as_deref());
    e.u8(option_bits(&cert.options));
    e.count(cert.members.len());
    for m in &cert.members {
        e.str(&m.name);
        e.str(&m.kana);
        e.date(m.birth_date);
        e.u8(m.sex.code());
        e.str(&m.relationship);
        e.opt_str(m.resident_code.as_deref());
        e.opt_str(m.individual_number.as_deref());
        e.opt_str(m.honseki.as_deref());
        e.opt_str(m.honseki_head.as_deref());
        match m.became_resident_date {
            Some(d) => {
                e.u8(1);
                e.date(d);
            }
            None => e.u8(0),
        }
        e.opt_str(m.previous_address.as_deref());
        e.count(m.notes.len());
        for n in &m.notes {
            e.str(n);
        }
    }
    e.opt_str(cert.seal_registration_number.as_deref());
    e.opt_bytes(cert.seal_image.as_deref());
    e.opt_bytes(cert.official_seal_image.as_deref());
    if let Some(url) = &cert.verify_url {
        e.0.extend_from_slice(VERIFY_URL_TAG);
        e.str(url);
    }
    if cert.members.iter().any(|m| m.address_since.is_some()) {
        e.0.extend_from_slice(ADDRESS_SINCE_TAG);
        for m in &cert.members {
            match m.address_since {
                Some(d) => {
                    e.u8(1);
                    e.date(d);
                }
                None => e.u8(0),
            }
        }
    }
    e.0
}

/// Marks the `verify_url` extension after the frozen part of the encoding.
const VERIFY_URL_TAG: &[u8] = b"verify_url\0";

/// Marks the members' 住所を定めた年月日 after the frozen part (and the `verify_url`).
const ADDRESS_SINCE_TAG: &[u8] = b"address_since\0";

fn option_bits(o: &CertificateOptions) -> u8 {
    u8::from(o.whole_household)
        | u8::from(o.honseki) << 1
        | u8::from(o.relationship) << 2
        | u8::from(o.resident_code) << 3
        | u8::from(o.individual_number) << 4
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn count(&mut self, n: usize) {
        // Lengths beyond u32 cannot occur for a certificate; saturate rather than wrap so that
        // the encoding stays injective for every input that can occur.
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&n.to_be_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.0.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        self.opt_bytes(s.map(str::as_bytes));
    }

    fn opt_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
            None => self.u8(0),
        }
    }

    fn date(&mut self, d: NaiveDate) {
        self.0.extend_from_slice(&d.year().to_be_bytes());
        // month 1..=12 and day 1..=31 always fit in a u8.
        self.u8(u8::try_from(d.month()).unwrap_or(0));
        self.u8(u8::try_from(d.day()).unwrap_or(0));
    }
}
