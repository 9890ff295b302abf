//! The alias expansion budget: a document's expanded size is charged node by node, so that an
//! alias bomb (a few hundred bytes that expand to gigabytes) is refused early, as go-yaml
//! refuses it.

use super::events::MAX_NODES;
use crate::stores::StoreError;

/// The expanded size of a document so far.
pub(super) struct Expansion {
    /// Nodes converted, aliases' copies included.
    decoded: usize,
    /// Nodes converted as part of an alias's copy.
    aliased: usize,
    /// Scalar bytes converted as part of an alias's copy.
    alias_bytes: usize,
    /// Limit of `alias_bytes`.
    max_alias_bytes: usize,
}

/// Most nodes a document may expand to.
const MAX_EXPANDED_NODES: usize = 2 * MAX_NODES;

impl Expansion {
    pub(super) fn new(src_len: usize) -> Self {
        Expansion {
            decoded: 0,
            aliased: 0,
            alias_bytes: 0,
            max_alias_bytes: (16 << 20usize).max(src_len.saturating_mul(4)),
        }
    }

    /// go-yaml's rule: past 100 aliased nodes and 1,000 nodes in all, the share of aliased nodes
    /// may not pass 99% (up to 400,000 nodes), falling to 10% at 4,000,000.
    fn allowed_ratio(decoded: usize) -> f64 {
        const LOW: f64 = 400_000.0;
        const HIGH: f64 = 4_000_000.0;
        let d = decoded as f64;
        if d <= LOW {
            0.99
        } else if d >= HIGH {
            0.10
        } else {
            0.99 - 0.89 * ((d - LOW) / (HIGH - LOW))
        }
    }

    /// Count one converted node (`bytes` of scalar text); refuse the document past the budget.
    pub(super) fn charge(&mut self, in_alias: bool, bytes: usize) -> Result<(), StoreError> {
        self.decoded += 1;
        if in_alias {
            self.aliased += 1;
            self.alias_bytes = self.alias_bytes.saturating_add(bytes);
        }
        let excessive = self.aliased > 100
            && self.decoded > 1000
            && (self.aliased as f64 / self.decoded as f64) > Self::allowed_ratio(self.decoded);
        if excessive || self.alias_bytes > self.max_alias_bytes || self.decoded > MAX_EXPANDED_NODES
        {
            return Err(StoreError::new(
                "the document contains excessive aliasing: its aliases expand to far more data than the file holds (an alias bomb?). Expand the aliases by hand if the file is genuine",
            ));
        }
        Ok(())
    }
}
