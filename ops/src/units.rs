//! Amounts of ether as people write them: `1000` (wei), `2gwei`, `1.5ether`, and back.

use anyhow::{Result, bail};
use ledger::primitives::U256;

/// Longest amount accepted, in characters (a U256 has at most 78 decimal digits).
const AMOUNT_CHARS_MAX: usize = 100;

/// A unit an amount can be written in, with its decimals (wei per unit = 10^decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// The suffix as written (`wei`, `gwei`, `ether`).
    pub name: &'static str,
    /// Decimals: the unit is 10^decimals wei.
    pub decimals: u8,
}

/// The wei.
pub const WEI: Unit = Unit {
    name: "wei",
    decimals: 0,
};

/// 10^9 wei (gas prices are usually given in gwei).
pub const GWEI: Unit = Unit {
    name: "gwei",
    decimals: 9,
};

/// 10^18 wei.
pub const ETHER: Unit = Unit {
    name: "ether",
    decimals: 18,
};

/// Suffixes accepted after a number (longest first so `gwei` is not read as `wei`).
const SUFFIXES: [(&str, Unit); 4] = [
    ("ether", ETHER),
    ("gwei", GWEI),
    ("eth", ETHER),
    ("wei", WEI),
];

/// 10^exponent as a U256 (exponent at most 77, so it always fits).
fn power_of_ten(exponent: u8) -> U256 {
    U256::from(10u64).pow(U256::from(exponent))
}

/// Parses an amount in wei: a plain number is wei (`1000`), a number with a unit is scaled
/// (`1.5ether`, `2 gwei`, `0.1eth`). No sign, no exponent; at most as many decimals as the unit
/// has; at most 2^256 - 1 wei.
pub fn parse_amount(text: &str) -> Result<U256> {
    let text = text.trim();
    if text.len() > AMOUNT_CHARS_MAX {
        bail!("an amount is at most {AMOUNT_CHARS_MAX} characters");
    }
    let lower = text.to_ascii_lowercase();
    let (number, unit) = SUFFIXES
        .iter()
        .find_map(|(suffix, unit)| lower.strip_suffix(suffix).map(|number| (number, *unit)))
        .unwrap_or((lower.as_str(), WEI));
    let number = number.trim_end();
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        bail!(
            "{text:?} is not an amount: write wei (1000) or a number with a unit (1.5ether, 2gwei)"
        );
    }
    if fraction.len() > usize::from(unit.decimals) {
        bail!(
            "{text:?} has more decimals than {} allows ({})",
            unit.name,
            unit.decimals
        );
    }
    let overflow = || anyhow::anyhow!("{text:?} is more than 2^256 - 1 wei");
    let scale = power_of_ten(unit.decimals);
    let whole_wei = if whole.is_empty() {
        U256::ZERO
    } else {
        whole
            .parse::<U256>()
            .map_err(|_| overflow())?
            .checked_mul(scale)
            .ok_or_else(overflow)?
    };
    let fraction_wei = if fraction.is_empty() {
        U256::ZERO
    } else {
        // `fraction` has at most `decimals` digits: "5" of ether is 5 × 10^17 wei.
        let missing = unit.decimals - fraction.len() as u8;
        fraction
            .parse::<U256>()
            .map_err(|_| overflow())?
            .checked_mul(power_of_ten(missing))
            .ok_or_else(overflow)?
    };
    whole_wei.checked_add(fraction_wei).ok_or_else(overflow)
}

/// A fee per gas in wei: an amount as [`parse_amount`] reads it that fits in 128 bits.
pub fn parse_fee_per_gas(text: &str) -> Result<u128> {
    let wei = parse_amount(text)?;
    u128::try_from(wei).map_err(|_| anyhow::anyhow!("a fee per gas must fit in 128 bits"))
}

/// `wei` in `unit`, with no trailing zeros: `1500000000000000000` wei is `1.5` ether.
pub fn format_units(wei: U256, unit: Unit) -> String {
    let scale = power_of_ten(unit.decimals);
    let whole = wei / scale;
    let fraction = wei % scale;
    if fraction.is_zero() {
        return whole.to_string();
    }
    let digits = format!(
        "{fraction:0>width$}",
        fraction = fraction.to_string(),
        width = usize::from(unit.decimals)
    );
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `wei` in ether, e.g. `10000` or `0.000021`.
pub fn format_ether(wei: U256) -> String {
    format_units(wei, ETHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wei(text: &str) -> U256 {
        text.parse().expect("a decimal number")
    }

    #[test]
    fn plain_numbers_are_wei() {
        assert_eq!(parse_amount("1000").expect("parses"), wei("1000"));
        assert_eq!(parse_amount("0").expect("parses"), U256::ZERO);
        assert_eq!(parse_amount(" 7wei ").expect("parses"), wei("7"));
    }

    #[test]
    fn units_scale_whole_and_fractional_amounts() {
        assert_eq!(
            parse_amount("1.5ether").expect("parses"),
            wei("1500000000000000000")
        );
        assert_eq!(parse_amount("2gwei").expect("parses"), wei("2000000000"));
        assert_eq!(parse_amount("2 GWei").expect("parses"), wei("2000000000"));
        assert_eq!(
            parse_amount("0.1eth").expect("parses"),
            wei("100000000000000000")
        );
        assert_eq!(
            parse_amount(".5ether").expect("parses"),
            wei("500000000000000000")
        );
        assert_eq!(
            parse_amount("3.ether").expect("parses"),
            wei("3000000000000000000")
        );
        assert_eq!(
            parse_amount("0.000000000000000001ether").expect("parses"),
            wei("1")
        );
    }

    #[test]
    fn malformed_amounts_are_refused_with_a_reason() {
        for bad in [
            "",
            ".",
            "ether",
            "-1",
            "+1",
            "1e18",
            "1,5ether",
            "0x10",
            "1.5",
            "1.5wei",
            "1 2",
            "1..2ether",
            "1.0000000001gwei",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad:?}");
        }
        let error = parse_amount("1.5").expect_err("wei has no decimals");
        assert!(error.to_string().contains("decimals"), "{error}");
        assert!(parse_amount(&"9".repeat(101)).is_err());
    }

    #[test]
    fn amounts_beyond_256_bits_are_refused() {
        let max = U256::MAX.to_string();
        assert_eq!(parse_amount(&max).expect("the maximum fits"), U256::MAX);
        assert!(parse_amount(&format!("{max}0")).is_err());
        assert!(parse_amount(&format!("{max}ether")).is_err());
        assert!(parse_amount(&format!("{max}gwei")).is_err());
    }

    #[test]
    fn fees_fit_in_128_bits() {
        assert_eq!(parse_fee_per_gas("1gwei").expect("parses"), 1_000_000_000);
        assert!(parse_fee_per_gas("1000000000000000000000ether").is_err());
    }

    #[test]
    fn formatting_trims_trailing_zeros() {
        assert_eq!(format_ether(wei("10000000000000000000000")), "10000");
        assert_eq!(format_ether(wei("1500000000000000000")), "1.5");
        assert_eq!(format_ether(wei("21000")), "0.000000000000021");
        assert_eq!(format_ether(U256::ZERO), "0");
        assert_eq!(format_units(wei("2500000000"), GWEI), "2.5");
        assert_eq!(format_units(wei("12"), WEI), "12");
    }

    #[test]
    fn formatting_and_parsing_round_trip() {
        for text in [
            "0",
            "1",
            "1.5",
            "0.000000000000000001",
            "123456789.987654321",
        ] {
            let amount = parse_amount(&format!("{text}ether")).expect("parses");
            assert_eq!(format_ether(amount), text);
        }
    }
}
