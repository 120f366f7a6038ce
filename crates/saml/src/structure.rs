//! The shape check that runs before any signature is verified.
//!
//! A genuine SAML Response from an IdP has one `samlp:Response` root, at most
//! one `saml:Assertion`, as a direct child of the root, and signatures that
//! are direct children of the Response or the Assertion and reference their
//! own parent (`URI="#<parent's ID>"`). Every published XML signature
//! wrapping attack (XSW1–8, and the later ruby-saml and samlify CVEs) needs a
//! second Response or Assertion, or a signature that sits somewhere else or
//! points elsewhere: such documents are refused outright, whatever their
//! signatures say. DTDs (entity expansion), comments (the NameID truncation
//! attack) and processing instructions are refused too; no IdP sends them.
//!
//! Values read here (issuer, InResponseTo) are hints for routing the message
//! to a tenant and must not be trusted: the verified assertion is the truth.

use crate::Rejection;

pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// Largest SAML message accepted (decoded bytes). Real responses are a few
/// KiB; this bounds the work an attacker can cause.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// What the (unverified) document looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub response_id: Option<String>,
    /// Issuer of the Response, else of the Assertion (a hint only).
    pub issuer: Option<String>,
    /// InResponseTo of the Response (a hint only).
    pub in_response_to: Option<String>,
    pub assertion_id: String,
    pub response_signed: bool,
    pub assertion_signed: bool,
}

fn is(node: &roxmltree::Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

/// Checks a decoded SAML Response document; see the module docs.
pub fn check_response(xml: &str) -> Result<Shape, Rejection> {
    let doc = parse(xml)?;
    let root = doc.root_element();
    if !is(&root, PROTOCOL_NS, "Response") {
        return Err(Rejection::Malformed(format!(
            "the root element is <{}>, not a SAML 2.0 <samlp:Response>",
            root.tag_name().name()
        )));
    }
    let mut responses = 0;
    let mut assertions = Vec::new();
    let mut signatures = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for n in doc.descendants() {
        if n.is_comment() {
            return Err(Rejection::UnsafeXml("an XML comment"));
        }
        if n.is_pi() {
            return Err(Rejection::UnsafeXml("a processing instruction"));
        }
        if !n.is_element() {
            continue;
        }
        if let Some(id) = n.attribute("ID")
            && !ids.insert(id)
        {
            return Err(Rejection::Wrapping(format!("the ID {id:?} occurs twice")));
        }
        if is(&n, PROTOCOL_NS, "Response") {
            responses += 1;
        } else if is(&n, ASSERTION_NS, "Assertion") {
            assertions.push(n);
        } else if is(&n, ASSERTION_NS, "EncryptedAssertion") {
            return Err(Rejection::Encrypted);
        } else if is(&n, DSIG_NS, "Signature") {
            signatures.push(n);
        }
    }
    if responses != 1 {
        return Err(Rejection::Wrapping(format!(
            "{responses} Response elements in one message"
        )));
    }
    let status = root
        .children()
        .find(|c| is(c, PROTOCOL_NS, "Status"))
        .and_then(|s| s.children().find(|c| is(c, PROTOCOL_NS, "StatusCode")))
        .and_then(|c| c.attribute("Value"));
    if let Some(code) = status
        && code != SUCCESS
    {
        return Err(Rejection::IdpStatus(code.to_string()));
    }
    let assertion = match assertions.as_slice() {
        [] => {
            return Err(Rejection::Malformed(
                "the response carries no assertion".into(),
            ));
        }
        [a] => *a,
        more => {
            return Err(Rejection::Wrapping(format!(
                "{} Assertion elements in one response",
                more.len()
            )));
        }
    };
    if assertion.parent_element() != Some(root) {
        return Err(Rejection::Wrapping(
            "the assertion is not a direct child of the Response".into(),
        ));
    }
    let assertion_id = assertion
        .attribute("ID")
        .ok_or_else(|| Rejection::Malformed("the assertion has no ID".into()))?
        .to_string();
    let (mut response_signed, mut assertion_signed) = (false, false);
    for sig in &signatures {
        let parent = sig
            .parent_element()
            .ok_or_else(|| Rejection::Wrapping("a signature without a parent".into()))?;
        let own = if parent == root {
            &mut response_signed
        } else if parent == assertion {
            &mut assertion_signed
        } else {
            return Err(Rejection::Wrapping(format!(
                "a signature inside <{}>, neither the Response nor the Assertion",
                parent.tag_name().name()
            )));
        };
        let references: Vec<_> = sig
            .children()
            .filter(|c| is(c, DSIG_NS, "SignedInfo"))
            .flat_map(|si| si.children().filter(|c| is(c, DSIG_NS, "Reference")))
            .collect();
        let [reference] = references.as_slice() else {
            return Err(Rejection::Wrapping(format!(
                "a signature with {} references (one expected)",
                references.len()
            )));
        };
        let expected = parent.attribute("ID").map(|id| format!("#{id}"));
        if reference.attribute("URI").map(str::to_string) != expected {
            return Err(Rejection::Wrapping(format!(
                "a signature in <{}> references {:?}, not its own element",
                parent.tag_name().name(),
                reference.attribute("URI").unwrap_or("")
            )));
        }
        if *own {
            return Err(Rejection::Wrapping(format!(
                "two signatures in <{}>",
                parent.tag_name().name()
            )));
        }
        *own = true;
    }
    if !response_signed && !assertion_signed {
        return Err(Rejection::Unsigned);
    }
    let issuer_of = |n: roxmltree::Node<'_, '_>| {
        n.children()
            .find(|c| is(c, ASSERTION_NS, "Issuer"))
            .and_then(|i| i.text())
            .map(|t| t.trim().to_string())
    };
    Ok(Shape {
        response_id: root.attribute("ID").map(str::to_string),
        issuer: issuer_of(root).or_else(|| issuer_of(assertion)),
        in_response_to: root.attribute("InResponseTo").map(str::to_string),
        assertion_id,
        response_signed,
        assertion_signed,
    })
}

/// The root's `InResponseTo` and the Response's `Issuer` of a document that
/// may fail [`check_response`]: only to learn which tenant a refused
/// response was meant for, so that the refusal lands in its access log.
pub fn hints(xml: &str) -> (Option<String>, Option<String>) {
    let Ok(doc) = parse(xml) else {
        return (None, None);
    };
    let root = doc.root_element();
    let issuer = root
        .children()
        .find(|c| is(c, ASSERTION_NS, "Issuer"))
        .and_then(|i| i.text())
        .map(|t| t.trim().to_string());
    (root.attribute("InResponseTo").map(str::to_string), issuer)
}

/// Parses with DTDs refused, and refuses comments and processing
/// instructions anywhere (used for logout messages too).
pub(crate) fn parse(xml: &str) -> Result<roxmltree::Document<'_>, Rejection> {
    if xml.len() > MAX_MESSAGE_BYTES {
        return Err(Rejection::Malformed(format!(
            "the message is {} bytes, more than the {MAX_MESSAGE_BYTES} accepted",
            xml.len()
        )));
    }
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(xml, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => Rejection::UnsafeXml("a DTD (DOCTYPE)"),
        e => Rejection::Malformed(format!("not well-formed XML: {e}")),
    })
}

/// Refuses comments and processing instructions in a parsed document.
pub(crate) fn refuse_comments(doc: &roxmltree::Document<'_>) -> Result<(), Rejection> {
    for n in doc.descendants() {
        if n.is_comment() {
            return Err(Rejection::UnsafeXml("an XML comment"));
        }
        if n.is_pi() {
            return Err(Rejection::UnsafeXml("a processing instruction"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r##"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_r" InResponseTo="_q"><saml:Issuer>https://idp</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_a"><saml:Issuer>https://idp</saml:Issuer><ds:Signature><ds:SignedInfo><ds:Reference URI="#_a"/></ds:SignedInfo></ds:Signature></saml:Assertion></samlp:Response>"##;

    #[test]
    fn a_plain_response_passes_and_gives_its_hints() {
        let s = check_response(OK).expect("shape");
        assert_eq!(s.issuer.as_deref(), Some("https://idp"));
        assert_eq!(s.in_response_to.as_deref(), Some("_q"));
        assert_eq!(s.assertion_id, "_a");
        assert!(s.assertion_signed && !s.response_signed);
    }

    #[test]
    fn refuses_dtd_comments_and_pis() {
        let dtd = format!("<!DOCTYPE x [<!ENTITY e \"x\">]>{OK}");
        assert_eq!(
            check_response(&dtd),
            Err(Rejection::UnsafeXml("a DTD (DOCTYPE)"))
        );
        let comment = OK.replace(
            "https://idp</saml:Issuer><ds",
            "https://idp<!---->.evil</saml:Issuer><ds",
        );
        assert_eq!(
            check_response(&comment),
            Err(Rejection::UnsafeXml("an XML comment"))
        );
        let pi = OK.replace("<saml:Assertion", "<?x y?><saml:Assertion");
        assert_eq!(
            check_response(&pi),
            Err(Rejection::UnsafeXml("a processing instruction"))
        );
    }

    #[test]
    fn refuses_a_signature_pointing_elsewhere_and_unsigned() {
        let elsewhere = OK.replace("URI=\"#_a\"", "URI=\"#_r\"");
        assert_eq!(
            check_response(&elsewhere).map_err(|e| e.code()),
            Err("signature_wrapping")
        );
        let unsigned = OK.replace(
            "<ds:Signature><ds:SignedInfo><ds:Reference URI=\"#_a\"/></ds:SignedInfo></ds:Signature>",
            "",
        );
        assert_eq!(check_response(&unsigned), Err(Rejection::Unsigned));
    }

    #[test]
    fn a_failed_status_is_the_idps_word() {
        let failed = OK.replace("status:Success", "status:Responder");
        assert_eq!(
            check_response(&failed).map_err(|e| e.code()),
            Err("idp_status")
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for input in [
            "",
            "<",
            "not xml",
            "<a/>",
            "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>",
        ] {
            assert!(check_response(input).is_err(), "{input}");
        }
    }
}
