//! Accounts and how the address space is split into shards.
//!
//! Shard `i` of `2^k` owns every address whose top `k` bits equal `i`: exactly one subtree of
//! the state tree, rooted at depth `k`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::limits::SHARD_BITS_MAX;
use crate::primitives::{Address, U256, u256_bytes};

/// The state of one account. Accounts are created by receiving value and never deleted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Account {
    /// Transactions this account has sent: the nonce its next transaction must carry.
    pub nonce: u64,
    /// Balance in wei.
    #[serde(with = "u256_bytes")]
    pub balance: U256,
}

impl Account {
    /// An account with a balance and no transactions sent.
    pub const fn with_balance(balance: U256) -> Self {
        Self { nonce: 0, balance }
    }
}

/// Why a shard layout is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// More than [`SHARD_BITS_MAX`] shard bits.
    #[error("shard bits {got} exceed the maximum of {max}")]
    TooManyShardBits {
        /// Bits requested.
        got: u8,
        /// Largest allowed.
        max: u8,
    },
    /// The shard count is not a power of two between 1 and 256.
    #[error("shard count {0} is not a power of two between 1 and 256")]
    ShardCount(u32),
    /// A shard index is not below the shard count.
    #[error("shard {index} does not exist (shard count {count})")]
    NoSuchShard {
        /// Index given.
        index: u32,
        /// Shards in the layout.
        count: u32,
    },
}

/// How the address space is split: `2^shard_bits` shards, fixed in genesis.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct ShardLayout {
    shard_bits: u8,
}

/// A shard's index within its layout.
pub type ShardIndex = u16;

impl ShardLayout {
    /// A layout of `2^shard_bits` shards.
    pub const fn new(shard_bits: u8) -> Result<Self, LayoutError> {
        if shard_bits > SHARD_BITS_MAX {
            return Err(LayoutError::TooManyShardBits {
                got: shard_bits,
                max: SHARD_BITS_MAX,
            });
        }
        Ok(Self { shard_bits })
    }

    /// A layout with `count` shards; `count` must be a power of two from 1 to 256.
    pub fn with_shard_count(count: u32) -> Result<Self, LayoutError> {
        if !count.is_power_of_two() || count > 1 << SHARD_BITS_MAX {
            return Err(LayoutError::ShardCount(count));
        }
        // `trailing_zeros` of a power of two at most 256 is at most 8: fits u8.
        Self::new(count.trailing_zeros() as u8)
    }

    /// `k`: the depth of the shard subtrees' roots.
    pub const fn shard_bits(&self) -> u8 {
        self.shard_bits
    }

    /// `2^k`.
    pub const fn shard_count(&self) -> u32 {
        1 << self.shard_bits
    }

    /// The shard owning `address`: its top `k` bits.
    pub fn shard_of(&self, address: &Address) -> ShardIndex {
        if self.shard_bits == 0 {
            return 0;
        }
        let top = u16::from_be_bytes([address.0[0], address.0[1]]);
        top >> (16 - u16::from(self.shard_bits))
    }

    /// `addresses` grouped by the shard that holds them, in shard order, each group in the
    /// order given: one request per shard.
    pub fn group_by_shard<'a>(
        &self,
        addresses: impl IntoIterator<Item = &'a Address>,
    ) -> BTreeMap<ShardIndex, Vec<Address>> {
        let mut groups: BTreeMap<ShardIndex, Vec<Address>> = BTreeMap::new();
        for address in addresses {
            groups
                .entry(self.shard_of(address))
                .or_default()
                .push(*address);
        }
        groups
    }

    /// Checks that `index` names a shard of this layout.
    pub fn check_index(&self, index: u32) -> Result<ShardIndex, LayoutError> {
        if index >= self.shard_count() {
            return Err(LayoutError::NoSuchShard {
                index,
                count: self.shard_count(),
            });
        }
        // Below 256 here, so it fits.
        Ok(index as ShardIndex)
    }

    /// The smallest address in shard `index` (its remaining bits zero).
    pub fn first_address(&self, index: ShardIndex) -> Address {
        let mut bytes = [0u8; 20];
        if self.shard_bits > 0 {
            let top = (index << (16 - u16::from(self.shard_bits))).to_be_bytes();
            bytes[0] = top[0];
            bytes[1] = top[1];
        }
        Address(bytes)
    }
}

impl TryFrom<u8> for ShardLayout {
    type Error = LayoutError;
    fn try_from(shard_bits: u8) -> Result<Self, LayoutError> {
        Self::new(shard_bits)
    }
}

impl From<ShardLayout> for u8 {
    fn from(layout: ShardLayout) -> u8 {
        layout.shard_bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_by_shard_in_the_order_given() {
        let layout = ShardLayout::with_shard_count(4).expect("valid");
        let at = |top: u8, last: u8| {
            let mut bytes = [0u8; 20];
            bytes[0] = top;
            bytes[19] = last;
            Address(bytes)
        };
        let addresses = [at(0xc0, 1), at(0x00, 2), at(0xc0, 3), at(0x40, 4)];
        let groups = layout.group_by_shard(&addresses);
        assert_eq!(groups.keys().copied().collect::<Vec<_>>(), vec![0, 1, 3]);
        assert_eq!(groups[&3], vec![at(0xc0, 1), at(0xc0, 3)]);
        assert_eq!(groups[&0], vec![at(0x00, 2)]);
    }

    #[test]
    fn shard_of_uses_top_bits() {
        let layout = ShardLayout::with_shard_count(4).expect("valid");
        assert_eq!(layout.shard_bits(), 2);
        let mut bytes = [0u8; 20];
        bytes[0] = 0b1100_0000;
        assert_eq!(layout.shard_of(&Address(bytes)), 3);
        bytes[0] = 0b0111_1111;
        assert_eq!(layout.shard_of(&Address(bytes)), 1);
        assert_eq!(
            ShardLayout::new(0)
                .expect("one shard")
                .shard_of(&Address(bytes)),
            0
        );
    }

    #[test]
    fn every_shard_first_address_maps_back() {
        for bits in 0..=SHARD_BITS_MAX {
            let layout = ShardLayout::new(bits).expect("valid");
            for index in 0..layout.shard_count() {
                let index = index as ShardIndex;
                assert_eq!(layout.shard_of(&layout.first_address(index)), index);
            }
        }
    }

    #[test]
    fn invalid_layouts_are_refused() {
        assert_eq!(
            ShardLayout::with_shard_count(3),
            Err(LayoutError::ShardCount(3))
        );
        assert_eq!(
            ShardLayout::with_shard_count(512),
            Err(LayoutError::ShardCount(512))
        );
        assert!(ShardLayout::new(9).is_err());
        assert!(ShardLayout::new(2).expect("valid").check_index(4).is_err());
    }
}
