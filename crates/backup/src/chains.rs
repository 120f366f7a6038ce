//! The chains a repository holds, seen the same way by backup and restore: one of a tenant's
//! two (ledger, access log), or the platform's.

use murakumo_ledger::{ChainHead, Entry, Segment};
use murakumo_store::{Applied, Chain, PlatformChain, StoreError, TenantStore};

pub(crate) enum ChainRef<'a> {
    Tenant(TenantStore<'a>, Chain),
    Platform(PlatformChain<'a>),
}

type StoreResult<T> = std::result::Result<T, StoreError>;

impl ChainRef<'_> {
    pub(crate) async fn head(&self) -> StoreResult<ChainHead> {
        match self {
            ChainRef::Tenant(ts, chain) => ts.head(*chain).await,
            ChainRef::Platform(p) => p.head().await,
        }
    }

    pub(crate) async fn read_after(&self, after: u64, limit: u32) -> StoreResult<Vec<Entry>> {
        match self {
            ChainRef::Tenant(ts, chain) => ts.read_after(*chain, after, limit).await,
            ChainRef::Platform(p) => p.read_after(after, u64::from(limit)).await,
        }
    }

    pub(crate) async fn apply_segment(&self, segment: &Segment) -> StoreResult<Applied> {
        match self {
            ChainRef::Tenant(ts, chain) => ts.apply_segment(*chain, segment).await,
            ChainRef::Platform(p) => p.apply_segment(segment).await,
        }
    }

    pub(crate) async fn verify(&self) -> StoreResult<ChainHead> {
        match self {
            ChainRef::Tenant(ts, chain) => ts.verify(*chain).await,
            ChainRef::Platform(p) => p.verify().await,
        }
    }

    /// `tenant 131016`, `the platform`.
    pub(crate) fn owner(&self) -> String {
        match self {
            ChainRef::Tenant(ts, _) => format!("tenant {}", ts.code()),
            ChainRef::Platform(_) => "the platform".into(),
        }
    }

    pub(crate) fn chain(&self) -> Chain {
        match self {
            ChainRef::Tenant(_, chain) => *chain,
            ChainRef::Platform(_) => Chain::Ledger,
        }
    }
}
