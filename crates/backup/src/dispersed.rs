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
//! reports the share it had to skip.

use crate::target::Target;
use crate::{BackupError, Result};

pub(crate) const CONFIG: &str = "config";

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

pub(crate) async fn read(target: &Target, name: &str) -> Result<Option<Vec<u8>>> {
    let Some(sites) = target.sites() else {
        return Err(BackupError::Dispersal("not a dispersed target".into()));
    };
    if name == CONFIG {
        let mut last = None;
        for s in sites {
            match Box::pin(s.read(name)).await {
                Ok(Some(b)) => return Ok(Some(b)),
                Ok(None) => {}
                Err(e) => last = Some(e),
            }
        }
        return match last {
            Some(e) => Err(e),
            None => Ok(None),
        };
    }
    let mut shares = Vec::new();
    let mut absent = Vec::new();
    for s in sites {
        match Box::pin(s.read(name)).await {
            Ok(Some(b)) => match murakumo_dispersal::Share::from_bytes(&b) {
                Ok(share) => shares.push(share),
                Err(e) => target.warn(format!(
                    "CORRUPTED share of {name} at {}: {e}",
                    s.location()
                )),
            },
            Ok(None) => absent.push(s.location().to_string()),
            Err(e) => {
                target.warn(format!("{}: cannot read {name}: {e}", s.location()));
                absent.push(s.location().to_string());
            }
        }
    }
    if shares.is_empty() {
        return Ok(None);
    }
    match murakumo_dispersal::combine_with_report(&shares) {
        Ok(restored) => {
            for site in &absent {
                target.warn(format!(
                    "MISSING share of {name} at {site}; restored from the other two sites"
                ));
            }
            for r in &restored.rejected {
                target.warn(format!(
                    "CORRUPTED share of {name}: {r}; restored from the other two sites \
                     (run the backup again to replace it)"
                ));
            }
            Ok(Some(restored.object))
        }
        Err(e) => Err(BackupError::Corrupted {
            repo: target.location().to_string(),
            name: name.to_string(),
            reason: format!(
                "fewer than two good shares ({e}){}",
                if absent.is_empty() {
                    String::new()
                } else {
                    format!("; no share at {}", absent.join(", "))
                }
            ),
        }),
    }
}

/// The stored length of each share of a sealed object of `len` bytes.
pub(crate) fn share_len(name: &str, len: u64) -> Option<u64> {
    murakumo_dispersal::share_len(len, name.len())
}
