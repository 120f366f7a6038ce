//! `dispersed:URL1,URL2,URL3`: each object is split by `murakumo-dispersal`
//! into three shares, one per site, any two of which restore it and any one
//! of which reveals nothing (even with the passphrase). The repository
//! `config` (which holds only the wrapped master key) is stored whole at
//! every site, so that any site can say whether a key is right; objects are
//! sealed with the repository key first and then split, so a site learns
//! neither content nor, from the names, anything but keyed ids.
//!
//! A write needs all three sites (a backup that silently left one site
//! behind would not survive the loss of another); a read needs any two and
//! records every share it had to read around as a [`ShareFault`], for
//! `verify` to report and `verify --repair` (`repair.rs`) to rebuild.

use murakumo_dispersal::Share;

use crate::target::Target;
use crate::{BackupError, Result};

pub(crate) const CONFIG: &str = "config";

/// What is wrong with one share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The site holds no share of the object.
    Missing,
    /// The site's share is damaged (hash mismatch, truncated, unparsable),
    /// altered (does not authenticate), left by an interrupted write of
    /// another split, or labelled for another site.
    Corrupted,
    /// The site did not answer (after retries); nothing is known.
    Unreadable,
}

/// One share of one object that is not what its site should hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareFault {
    /// The object (`data/ab/…`, `snapshots/…`, `config`).
    pub name: String,
    /// The site, 1..=3 (its position in `dispersed:URL1,URL2,URL3`).
    pub site: usize,
    /// The site's URL.
    pub location: String,
    pub kind: FaultKind,
    /// Why, in words (empty for a plain missing share).
    pub detail: String,
}

impl std::fmt::Display for ShareFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            FaultKind::Missing => "MISSING",
            FaultKind::Corrupted => "CORRUPTED",
            FaultKind::Unreadable => "UNREADABLE",
        };
        write!(
            f,
            "{kind} share {} of {} at {}",
            self.site, self.name, self.location
        )?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

pub(crate) async fn write(target: &Target, name: &str, bytes: &[u8]) -> Result<()> {
    let Some(sites) = target.sites() else {
        return Err(BackupError::Dispersal("not a dispersed target".into()));
    };
    if name == CONFIG {
        for s in sites {
            Box::pin(s.write(name, bytes)).await?;
        }
        return Ok(());
    }
    let shares = murakumo_dispersal::split(bytes, name.as_bytes())
        .map_err(|e| BackupError::Dispersal(e.to_string()))?;
    for (site, share) in sites.iter().zip(shares.iter()) {
        // All three shares come from one split (shares of two splits do
        // not combine), so all three are written, replacing leftovers.
        Box::pin(site.write(name, &share.to_bytes())).await?;
    }
    Ok(())
}

/// What one site holds of one object.
pub(crate) enum Held {
    Absent,
    /// Parsed, and labelled for this site (not yet checked against the
    /// others).
    Share(Share),
    /// Not a share this site should hold, and why.
    Bad(String),
}

impl Held {
    /// Parses what site `site` (0-based) returned.
    pub(crate) fn parse(site: usize, bytes: Option<Vec<u8>>) -> Held {
        let Some(bytes) = bytes else {
            return Held::Absent;
        };
        match Share::from_bytes(&bytes) {
            Ok(s) if usize::from(s.index()) == site + 1 => Held::Share(s),
            Ok(s) => Held::Bad(format!(
                "it is share {} (site {}'s), not share {}: copied from another site",
                s.index(),
                s.index(),
                site + 1
            )),
            Err(e) => Held::Bad(format!("{e} ({} bytes)", bytes.len())),
        }
    }
}

/// Checks what the three sites hold of one object: the object (if any two
/// shares authenticate together), the three shares as the original split
/// made them, and a fault for each site whose share is not that share.
pub(crate) fn check(
    sites: &[Target; 3],
    name: &str,
    held: &[Held; 3],
) -> (
    std::result::Result<murakumo_dispersal::Rebuilt, String>,
    Vec<ShareFault>,
) {
    let shares: Vec<Share> = held
        .iter()
        .filter_map(|h| match h {
            Held::Share(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let rebuilt = if shares.is_empty() {
        Err("no site holds a share of it".to_string())
    } else {
        murakumo_dispersal::rebuild(&shares).map_err(|e| e.to_string())
    };
    let mut faults = Vec::new();
    for (i, h) in held.iter().enumerate() {
        let fault = |kind, detail: String| ShareFault {
            name: name.to_string(),
            site: i + 1,
            location: sites[i].location().to_string(),
            kind,
            detail,
        };
        match h {
            Held::Absent => faults.push(fault(FaultKind::Missing, String::new())),
            Held::Bad(why) => faults.push(fault(FaultKind::Corrupted, why.clone())),
            Held::Share(s) => {
                let Ok(r) = &rebuilt else {
                    if murakumo_dispersal::verify_share(s).is_err() {
                        faults.push(fault(
                            FaultKind::Corrupted,
                            format!("share {} is corrupted (hash mismatch)", i + 1),
                        ));
                    }
                    continue;
                };
                if *s != r.shares[i] {
                    let why = r
                        .rejected
                        .iter()
                        .find(|x| usize::from(x.index) == i + 1)
                        .map_or_else(
                            || "it differs from the share the other two sites imply".to_string(),
                            |x| x.to_string(),
                        );
                    faults.push(fault(FaultKind::Corrupted, why));
                }
            }
        }
    }
    (rebuilt, faults)
}

pub(crate) async fn read(target: &Target, name: &str) -> Result<Option<Vec<u8>>> {
    let Some(sites) = target.sites() else {
        return Err(BackupError::Dispersal("not a dispersed target".into()));
    };
    if name == CONFIG {
        return read_config(target, sites).await;
    }
    let mut held = [Held::Absent, Held::Absent, Held::Absent];
    let mut unreadable = Vec::new();
    for (i, s) in sites.iter().enumerate() {
        if let Some(why) = target.site_down(i) {
            unreadable.push((i, why));
            continue;
        }
        match Box::pin(s.read(name)).await {
            Ok(b) => held[i] = Held::parse(i, b),
            Err(e) => {
                target.mark_site_down(i, e.to_string());
                unreadable.push((i, e.to_string()));
            }
        }
    }
    let nothing = held.iter().all(|h| matches!(h, Held::Absent));
    let (rebuilt, mut faults) = check(sites, name, &held);
    for (i, why) in &unreadable {
        faults.retain(|f| f.site != i + 1);
        faults.push(ShareFault {
            name: name.to_string(),
            site: i + 1,
            location: sites[*i].location().to_string(),
            kind: FaultKind::Unreadable,
            detail: format!("the site did not answer ({why})"),
        });
    }
    faults.sort_by_key(|f| f.site);
    if nothing && unreadable.is_empty() {
        // Absent everywhere: the caller reports it MISSING.
        target.log_shares(3, Vec::new());
        return Ok(None);
    }
    target.log_shares(3, faults.clone());
    match rebuilt {
        Ok(r) => Ok(Some(r.object)),
        Err(e) => Err(BackupError::Corrupted {
            repo: target.location().to_string(),
            name: name.to_string(),
            reason: format!(
                "fewer than two good shares ({e}); {}",
                faults
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }),
    }
}

/// `config` is stored whole at every site: the copy most sites agree on
/// (among those that are JSON), and a fault for every site that lacks it or
/// holds other bytes.
async fn read_config(target: &Target, sites: &[Target; 3]) -> Result<Option<Vec<u8>>> {
    let mut copies: Vec<Option<Vec<u8>>> = Vec::new();
    let mut last_err = None;
    for (i, s) in sites.iter().enumerate() {
        match Box::pin(s.read(CONFIG)).await {
            Ok(b) => copies.push(b),
            Err(e) => {
                target.mark_site_down(i, e.to_string());
                last_err = Some(e);
                copies.push(None);
            }
        }
    }
    let Some(chosen) = choose_config(&copies) else {
        return match last_err {
            Some(e) => Err(e),
            None => Ok(None),
        };
    };
    let faults = copies
        .iter()
        .enumerate()
        .filter(|(i, c)| c.as_deref() != Some(chosen.as_slice()) && target.site_down(*i).is_none())
        .map(|(i, c)| ShareFault {
            name: CONFIG.to_string(),
            site: i + 1,
            location: sites[i].location().to_string(),
            kind: if c.is_none() {
                FaultKind::Missing
            } else {
                FaultKind::Corrupted
            },
            detail: if c.is_none() {
                String::new()
            } else {
                "it differs from the config the other sites hold".into()
            },
        })
        .collect();
    target.log_shares(0, faults);
    Ok(Some(chosen))
}

/// The config copy most sites hold, preferring copies that are JSON.
pub(crate) fn choose_config(copies: &[Option<Vec<u8>>]) -> Option<Vec<u8>> {
    let mut best: Option<(&Vec<u8>, (bool, usize))> = None;
    for c in copies.iter().flatten() {
        let json = serde_json::from_slice::<serde_json::Value>(c).is_ok_and(|v| v.is_object());
        let votes = copies.iter().flatten().filter(|o| *o == c).count();
        if best.is_none_or(|(_, score)| (json, votes) > score) {
            best = Some((c, (json, votes)));
        }
    }
    best.map(|(c, _)| c.clone())
}

/// The stored length of each share of a sealed object of `len` bytes.
pub(crate) fn share_len(name: &str, len: u64) -> Option<u64> {
    murakumo_dispersal::share_len(len, name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_most_sites_hold_wins_and_json_beats_garbage() {
        let good = br#"{"format":"x"}"#.to_vec();
        let bad = b"\x00garbage".to_vec();
        assert_eq!(
            choose_config(&[Some(bad.clone()), Some(good.clone()), None]),
            Some(good.clone())
        );
        assert_eq!(
            choose_config(&[None, Some(good.clone()), Some(good.clone())]),
            Some(good.clone())
        );
        assert_eq!(choose_config(&[None, None, None]), None);
    }

    #[test]
    fn a_share_is_only_good_at_its_own_site() {
        let shares = murakumo_dispersal::split(b"sealed object", b"data/aa/aa").expect("split");
        assert!(matches!(
            Held::parse(0, Some(shares[0].to_bytes())),
            Held::Share(_)
        ));
        match Held::parse(1, Some(shares[0].to_bytes())) {
            Held::Bad(why) => assert!(why.contains("copied from another site"), "{why}"),
            _ => panic!("share 1 accepted at site 2"),
        }
        let mut cut = shares[2].to_bytes();
        cut.truncate(cut.len() / 2);
        assert!(matches!(Held::parse(2, Some(cut)), Held::Bad(_)));
        assert!(matches!(Held::parse(2, None), Held::Absent));
    }
}
