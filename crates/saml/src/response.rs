//! Verifying a SAML Response (HTTP-POST binding) from a municipality's IdP.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use samael::crypto::{AllowedSignatureAlgorithm, ReduceMode};
use samael::schema::Assertion;
use samael::service_provider::{Error as SpError, ServiceProvider};

use crate::structure::{self, Shape};
use crate::{IdpMetadata, Rejection, SpConfig};

/// Allowed clock skew between the IdP and this server.
pub const CLOCK_SKEW_SECS: i64 = 180;
/// How old an assertion's IssueInstant may be.
pub const MAX_ISSUE_DELAY_SECS: i64 = 300;

/// What a verified assertion says. Everything here was covered by a
/// signature that verified with the IdP's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub assertion_id: String,
    pub issuer: String,
    pub name_id: String,
    pub session_index: Option<String>,
    /// Attribute values by `Name` (and by `FriendlyName` where given).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Until when the assertion id must be remembered against replay.
    pub remember_until: DateTime<Utc>,
    /// The request it answers (`None` for IdP-initiated login).
    pub in_response_to: Option<String>,
}

/// Decodes the `SAMLResponse` form field (base64 of the XML).
pub fn decode(saml_response: &str) -> Result<String, Rejection> {
    let compact: String = saml_response.split_ascii_whitespace().collect();
    if compact.len() > structure::MAX_MESSAGE_BYTES * 4 / 3 + 4 {
        return Err(Rejection::Malformed("the SAMLResponse is too large".into()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| Rejection::Malformed(format!("the SAMLResponse is not base64: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| Rejection::Malformed("the SAMLResponse is not UTF-8 XML".into()))
}

/// Decodes and shape-checks a response without verifying it: the issuer and
/// InResponseTo are hints for choosing the tenant whose IdP must then
/// verify it (see [`structure`]).
pub fn peek_response(saml_response: &str) -> Result<Shape, Rejection> {
    structure::check_response(&decode(saml_response)?)
}

fn map_sp_error(e: SpError) -> Rejection {
    match e {
        SpError::FailedToValidateSignature => Rejection::BadSignature,
        SpError::DestinationValidationError {
            response_destination,
            sp_acs_url,
        } => Rejection::WrongRecipient(format!(
            "Destination {response_destination:?}, expected {sp_acs_url:?}"
        )),
        SpError::AssertionRecipientMismatch {
            assertion_recipient,
            sp_acs_url,
        } => Rejection::WrongRecipient(format!(
            "Recipient {assertion_recipient:?}, expected {sp_acs_url:?}"
        )),
        SpError::AssertionConditionAudienceRestrictionFailed { requirement } => {
            Rejection::WrongAudience(format!(
                "this SP ({requirement}) is not among the audiences"
            ))
        }
        SpError::AssertionExpired { time }
        | SpError::ResponseExpired { time }
        | SpError::AssertionConditionExpired { time }
        | SpError::AssertionSubjectConfirmationExpired { time } => {
            Rejection::Expired(format!("valid until {time}"))
        }
        SpError::AssertionConditionExpiredBefore { time }
        | SpError::AssertionSubjectConfirmationExpiredBefore { time } => {
            Rejection::Expired(format!("not valid before {time}"))
        }
        SpError::AssertionIssuerMismatch { issuer, entity_id }
        | SpError::ResponseIssuerMismatch { issuer, entity_id } => Rejection::WrongIssuer {
            issuer: issuer.unwrap_or_default(),
            expected: entity_id.unwrap_or_default(),
        },
        SpError::AssertionInResponseToInvalid { .. }
        | SpError::ResponseInResponseToInvalid { .. } => {
            Rejection::UnknownRequest("InResponseTo does not match".into())
        }
        SpError::ResponseBadStatusCode { code } => Rejection::IdpStatus(code),
        SpError::AssertionBearerSubjectConfirmationMissing
        | SpError::AssertionSubjectConfirmationMissing => Rejection::Malformed(
            "the assertion has no bearer SubjectConfirmation with NotOnOrAfter".into(),
        ),
        SpError::EncryptedAssertionsNotYetSupported => Rejection::Encrypted,
        SpError::FailedToParseSamlResponse(e) => Rejection::Malformed(e.to_string()),
        SpError::FailedToParseSamlAssertion(e) => Rejection::Malformed(e.to_string()),
        other => Rejection::Internal(other.to_string()),
    }
}

/// Verifies a response for `sp` from `idp`.
///
/// `request_id`: the AuthnRequest this login started with (SP-initiated),
/// or `None` for an IdP-initiated login, which is refused unless
/// `allow_idp_initiated`. Checks, in order: the shape (no wrapping, no DTD
/// or comments, one assertion, signed), the signature against the IdP's
/// certificates (RSA/ECDSA with SHA-256 or stronger; only the signed
/// element is read from then on), Destination and Recipient (this ACS),
/// InResponseTo, issuer, time window, audience (this SP, required), bearer
/// subject confirmation. The replay cache is the caller's: remember
/// [`VerifiedAssertion::assertion_id`] until `remember_until`.
pub fn verify_response(
    saml_response: &str,
    sp: &SpConfig,
    idp: &IdpMetadata,
    request_id: Option<&str>,
    allow_idp_initiated: bool,
) -> Result<VerifiedAssertion, Rejection> {
    let xml = decode(saml_response)?;
    let shape = structure::check_response(&xml)?;
    if request_id.is_none() && !allow_idp_initiated {
        return Err(Rejection::IdpInitiatedNotAllowed);
    }
    if request_id.is_none() && shape.in_response_to.is_some() {
        return Err(Rejection::UnknownRequest(
            shape.in_response_to.clone().unwrap_or_default(),
        ));
    }
    let samael_sp = ServiceProvider {
        entity_id: Some(sp.entity_id.clone()),
        metadata_url: Some(sp.entity_id.clone()),
        acs_url: Some(sp.acs_url.clone()),
        slo_url: Some(sp.slo_url.clone()),
        idp_metadata: idp.descriptor.clone(),
        allow_idp_initiated: request_id.is_none(),
        max_issue_delay: Duration::seconds(MAX_ISSUE_DELAY_SECS),
        max_clock_skew: Duration::seconds(CLOCK_SKEW_SECS),
        allowed_signature_algorithms: Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha384,
            AllowedSignatureAlgorithm::RsaSha512,
            AllowedSignatureAlgorithm::EcdsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha384,
            AllowedSignatureAlgorithm::EcdsaSha512,
        ]),
        ..ServiceProvider::default()
    };
    // The certificates come from our parsed metadata: never empty (checked
    // at import), so samael never takes its "no certificate, no check" path.
    if idp.certificates.is_empty() {
        return Err(Rejection::NotConfigured);
    }
    let ids: Vec<&str> = request_id.into_iter().collect();
    let assertion = samael_sp
        .parse_xml_response_with_mode(
            &xml,
            request_id.map(|_| ids.as_slice()),
            ReduceMode::ValidateAndMarkNoAncestors,
        )
        .map_err(map_sp_error)?;
    // The assertion read is the one the shape check saw.
    if assertion.id != shape.assertion_id {
        return Err(Rejection::Wrapping(format!(
            "the verified assertion {:?} is not the response's assertion {:?}",
            assertion.id, shape.assertion_id
        )));
    }
    from_assertion(assertion, sp, request_id)
}

fn from_assertion(
    assertion: Assertion,
    sp: &SpConfig,
    request_id: Option<&str>,
) -> Result<VerifiedAssertion, Rejection> {
    // SAML profiles 4.1.4.2: a bearer assertion MUST carry an
    // AudienceRestriction naming this SP (samael checks it only if present).
    let audiences: Vec<&String> = assertion
        .conditions
        .iter()
        .flat_map(|c| c.audience_restrictions.iter().flatten())
        .flat_map(|r| &r.audience)
        .collect();
    if !audiences.iter().any(|a| **a == sp.entity_id) {
        return Err(Rejection::WrongAudience(format!(
            "audiences {audiences:?} do not include {}",
            sp.entity_id
        )));
    }
    let subject = assertion.subject.as_ref().ok_or(Rejection::NoSubject)?;
    let name_id = subject
        .name_id
        .as_ref()
        .map(|n| n.value.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or(Rejection::NoSubject)?;
    let mut remember_until = assertion.issue_instant + Duration::seconds(MAX_ISSUE_DELAY_SECS);
    for t in subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .filter_map(|d| d.not_on_or_after)
        .chain(
            assertion
                .conditions
                .iter()
                .filter_map(|c| c.not_on_or_after),
        )
    {
        remember_until = remember_until.max(t);
    }
    remember_until += Duration::seconds(CLOCK_SKEW_SECS);
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for attr in assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| &s.attributes)
    {
        let values: Vec<String> = attr
            .values
            .iter()
            .filter_map(|v| v.value.as_ref())
            .map(|v| v.trim().to_string())
            .collect();
        for key in [&attr.name, &attr.friendly_name].into_iter().flatten() {
            attributes
                .entry(key.clone())
                .or_default()
                .extend(values.iter().cloned());
        }
    }
    let session_index = assertion
        .authn_statements
        .iter()
        .flatten()
        .find_map(|s| s.session_index.clone());
    Ok(VerifiedAssertion {
        assertion_id: assertion.id,
        issuer: assertion.issuer.value.unwrap_or_default(),
        name_id,
        session_index,
        attributes,
        remember_until,
        in_response_to: request_id.map(str::to_string),
    })
}
