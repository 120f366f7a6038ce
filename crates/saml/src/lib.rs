//! SAML 2.0 single sign-on for Murakumo, the service-provider side: the
//! platform's SP metadata, a municipality's IdP metadata, the AuthnRequest
//! (HTTP-Redirect binding), the verification of a Response (HTTP-POST
//! binding), single logout messages, and the mapping of a verified
//! assertion's attributes to a staff account, tenant and roles.
//!
//! Signatures are verified by xmlsec1 through the `samael` crate, in the mode
//! that keeps only what a verified signature covered
//! (`ReduceMode::ValidateAndMarkNoAncestors`); before that, [`structure`]
//! refuses documents whose shape is a known signature-wrapping trick (more
//! than one assertion, a signature that does not sit in and point at its own
//! parent), DTDs, comments and processing instructions. Only the element the
//! signature covered is ever read.
//!
//! What this crate deliberately does not do: storage (the replay cache of
//! assertion ids and the outstanding request ids are kept by the server in
//! the database), HTTP, sessions, or creating accounts — it says what the
//! assertion means, the server acts on it.

mod error;
pub mod idp;
pub mod logout;
pub mod mapping;
pub mod response;
pub mod sp;
pub mod structure;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ConfigError, Rejection};
pub use idp::IdpMetadata;
pub use mapping::{AttributeMapping, MappedUser, TenantSso};
pub use response::{VerifiedAssertion, peek_response, verify_response};
pub use sp::{AuthnRedirect, SpConfig};

/// Re-exported for tests that build and sign XML the way an IdP does.
pub use samael;

/// A fresh SAML id (an NCName: `_` then 32 hex digits, 128 random bits).
pub fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    format!("_{}", hex::encode(b))
}
