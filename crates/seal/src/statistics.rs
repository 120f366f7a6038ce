//! 印鑑登録の統計 (印鑑登録事務 M-INKAN-22): how many registrations are in force at the end of a
//! period, and how many were registered, ended (by reason) and certified in it. Counted from
//! the registrations' own dates (登録日, 抹消日) and the certificates' 交付日, so a past period
//! counts what was then recorded, entries recorded late included.

use chrono::NaiveDate;
use serde::Serialize;

/// The counts of one period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SealStatistics {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// 登録者数: registrations in force at the end of the period.
    pub in_force: u64,
    /// 新規登録
    pub registered: u64,
    /// 廃止
    pub abolished: u64,
    /// 亡失
    pub card_lost: u64,
    /// 職権抹消
    pub ex_officio: u64,
    /// 印鑑登録証明書の交付件数
    pub certificates: u64,
}
