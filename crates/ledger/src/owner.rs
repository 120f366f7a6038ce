//! Whose chain an entry belongs to: a municipality's, or the platform's own.

use std::fmt;

use murakumo_core::TenantCode;

/// The owner of a chain. Each municipality (tenant) has its chains; the platform has one more
/// for its own records (運用者, 県版設定: docs/design/platform-chain.md).
///
/// Stored and hashed as six ASCII digits: a tenant's 全国地方公共団体コード, or
/// [`LedgerOwner::PLATFORM_CODE`] for the platform, which no municipality can have
/// (prefecture 00 does not exist, and [`TenantCode::parse`] refuses it). Entries of tenants
/// therefore hash exactly as they did before the platform chain existed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum LedgerOwner {
    Tenant(TenantCode),
    Platform,
}

impl LedgerOwner {
    /// The six digits the platform chain is stored and hashed under.
    pub const PLATFORM_CODE: &'static str = "000000";

    /// Six ASCII digits.
    pub fn as_str(&self) -> &str {
        match self {
            LedgerOwner::Tenant(code) => code.as_str(),
            LedgerOwner::Platform => Self::PLATFORM_CODE,
        }
    }

    /// Reads six digits back: the platform's code, or a valid 全国地方公共団体コード.
    pub fn parse(input: &str) -> Result<LedgerOwner, murakumo_core::CodeError> {
        if input == Self::PLATFORM_CODE {
            return Ok(LedgerOwner::Platform);
        }
        TenantCode::parse(input).map(LedgerOwner::Tenant)
    }

    /// The municipality, unless this is the platform's chain.
    pub fn tenant(&self) -> Option<&TenantCode> {
        match self {
            LedgerOwner::Tenant(code) => Some(code),
            LedgerOwner::Platform => None,
        }
    }
}

impl From<TenantCode> for LedgerOwner {
    fn from(code: TenantCode) -> LedgerOwner {
        LedgerOwner::Tenant(code)
    }
}

impl From<&TenantCode> for LedgerOwner {
    fn from(code: &TenantCode) -> LedgerOwner {
        LedgerOwner::Tenant(*code)
    }
}

impl PartialEq<TenantCode> for LedgerOwner {
    fn eq(&self, other: &TenantCode) -> bool {
        self.tenant() == Some(other)
    }
}

impl fmt::Display for LedgerOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerOwner::Tenant(code) => write!(f, "tenant {code}"),
            LedgerOwner::Platform => f.write_str("the platform"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_code_is_no_municipality_and_reads_back() {
        assert!(TenantCode::parse(LedgerOwner::PLATFORM_CODE).is_err());
        assert_eq!(
            LedgerOwner::parse(LedgerOwner::PLATFORM_CODE),
            Ok(LedgerOwner::Platform)
        );
        let sapporo = TenantCode::parse("011002").expect("valid");
        assert_eq!(
            LedgerOwner::parse("011002"),
            Ok(LedgerOwner::Tenant(sapporo))
        );
        assert_eq!(LedgerOwner::Tenant(sapporo).as_str(), "011002");
        assert!(LedgerOwner::parse("000001").is_err());
        assert_eq!(LedgerOwner::Tenant(sapporo), sapporo);
        assert_ne!(LedgerOwner::Platform, sapporo);
    }
}
