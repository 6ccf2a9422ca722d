//! [`Cost`]: an exact amount of US dollars, as the `NUMERIC(19,4)` money columns hold it.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef, Postgres};

use crate::types::InvalidValue;

/// A non-negative amount of US dollars, exact to 1/10 000: any value the spec's `DECIMAL(19,4)`
/// money columns (e.g. `ai_generations.cost`) can hold that is not negative, so at most
/// $999 999 999 999 999.9999.
///
/// A [`rust_decimal::Decimal`] checked on the way in: no floating point is involved and sums are
/// exact. It binds and decodes as PostgreSQL `NUMERIC` through sqlx's `Decimal` codec; a stored
/// value with more than four significant decimals, a negative value, NaN or one too large for the
/// column is refused when read (zeros past the fourth decimal, as `cost * 1.0` gives, are not
/// precision and are accepted). Text form (`Display`, `FromStr`, serde) is a plain decimal with
/// four decimals such as `0.0125`; serde uses a string, so JSON never rounds it.
///
/// `Decimal` converts both ways ([`TryFrom<Decimal>`](#impl-TryFrom%3CDecimal%3E-for-Cost) refuses
/// what a `Cost` cannot be and never rounds), for host applications that price with it.
// Invariant: the decimal has scale 4, is not negative (nor negative zero) and is at most `MAX`.
// With one scale, the derived comparisons and hash agree with the amount and `Display` always
// shows four decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cost(Decimal);

const SCALE: u32 = 4;

/// The largest `NUMERIC(19,4)`, 999 999 999 999 999.9999: a mantissa of 10^19 - 1
/// (`0x8AC7_2304_89E7_FFFF`, as low and middle 32 bits) at scale 4.
const MAX: Decimal = Decimal::from_parts(0x89E7_FFFF, 0x8AC7_2304, 0, false, SCALE);

impl Cost {
    /// Nothing.
    pub const ZERO: Cost = Cost(Decimal::from_parts(0, 0, 0, false, SCALE));

    /// `n` ten-thousandths of a dollar (`12_500` is $1.25). Amounts above the column's maximum
    /// (`9_999_999_999_999_999_999`) are refused.
    pub fn from_ten_thousandths(n: u64) -> Result<Self, InvalidValue> {
        Self::new(Decimal::from_i128_with_scale(i128::from(n), SCALE))
    }

    /// The amount in ten-thousandths of a dollar.
    pub fn ten_thousandths(self) -> u64 {
        // Scale 4 and 0 <= value <= MAX: the mantissa is the count and fits.
        self.0.mantissa() as u64
    }

    /// Parses a plain decimal such as `12`, `0.5` or `0.0125`: digits, optionally a point and at
    /// most four decimals. No sign, exponent, grouping or currency symbol (stricter than
    /// `Decimal`'s own parser, which takes signs and `_` separators).
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::new("cost", "not an amount such as 0.0125");
        let (whole, frac) = input.split_once('.').unwrap_or((input, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(bad());
        }
        if input.contains('.') && frac.is_empty() {
            return Err(bad());
        }
        if frac.len() > SCALE as usize {
            return Err(InvalidValue::new("cost", "has more than four decimals"));
        }
        // Checked before `Decimal` sees it, which would round or refuse past 28 digits.
        if whole.trim_start_matches('0').len() > 15 {
            return Err(InvalidValue::new("cost", "is too large"));
        }
        Self::new(Decimal::from_str_exact(input).map_err(|_| bad())?)
    }

    /// The sum, or `None` if it would be too large for the column.
    pub fn checked_add(self, other: Cost) -> Option<Cost> {
        self.0
            .checked_add(other.0)
            .and_then(|sum| Self::new(sum).ok())
    }

    /// Checks the invariant and brings `value` to scale 4. Never rounds: a value with a fifth
    /// significant decimal is refused.
    fn new(value: Decimal) -> Result<Self, InvalidValue> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(InvalidValue::new("cost", "must not be negative"));
        }
        let mut value = value.normalize();
        if value.scale() > SCALE {
            return Err(InvalidValue::new("cost", "has more than four decimals"));
        }
        if value > MAX {
            return Err(InvalidValue::new("cost", "is too large"));
        }
        value.rescale(SCALE);
        value.set_sign_positive(true);
        Ok(Self(value))
    }
}

impl Default for Cost {
    fn default() -> Self {
        Self::ZERO
    }
}

impl TryFrom<Decimal> for Cost {
    type Error = InvalidValue;

    /// The same amount, if it is one a `Cost` can be (not negative, at most four significant
    /// decimals, within `NUMERIC(19,4)`); never rounded.
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Cost> for Decimal {
    /// The amount, with scale 4.
    fn from(cost: Cost) -> Self {
        cost.0
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cost(${})", self.0)
    }
}

impl FromStr for Cost {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Cost {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Cost {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(format_args!("invalid cost: {e}")))
    }
}

// The wire format is `Decimal`'s (sqlx's codec, both protocols); only the checks are ours.
impl sqlx::Type<Postgres> for Cost {
    fn type_info() -> PgTypeInfo {
        <Decimal as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for Cost {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Decimal as sqlx::Encode<'_, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Cost {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        // In the text protocol (simple queries) sqlx parses with `Decimal`'s `FromStr`, which rounds
        // past 28 decimals: a stored 1e-29 would read as zero. So a digit other than zero past the
        // fourth decimal is refused before it gets there. (The binary codec refuses it itself.)
        if matches!(value.format(), PgValueFormat::Text)
            && let Some((_, frac)) = value.as_str()?.split_once('.')
            && frac.bytes().skip(SCALE as usize).any(|b| b != b'0')
        {
            return Err("stored cost has more than four decimals".into());
        }
        let decimal = <Decimal as sqlx::Decode<'r, Postgres>>::decode(value)?;
        Self::new(decimal).map_err(|e| format!("stored cost {}", e.reason).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_displays_plain_decimals_with_four_places() {
        assert_eq!(Cost::parse("0.0125").unwrap().ten_thousandths(), 125);
        assert_eq!(Cost::parse("12").unwrap().ten_thousandths(), 120_000);
        assert_eq!(Cost::parse("007.5").unwrap().to_string(), "7.5000");
        assert_eq!(Cost::parse("0").unwrap(), Cost::ZERO);
        assert_eq!(Cost::ZERO.to_string(), "0.0000");
        assert_eq!(Cost::default(), Cost::ZERO);
        assert_eq!(format!("{:?}", Cost::ZERO), "Cost($0.0000)");
        assert_eq!(
            Cost::parse("999999999999999.9999")
                .unwrap()
                .ten_thousandths(),
            9_999_999_999_999_999_999
        );
        for bad in [
            "", ".5", "5.", "-1", "+1", "1e3", "1,5", "1_0", " 1", "0.00001", "1.2.3", "-0",
        ] {
            assert!(Cost::parse(bad).is_err(), "{bad}");
        }
        for too_large in ["1000000000000000", "99999999999999999999999999999999999"] {
            assert_eq!(Cost::parse(too_large).unwrap_err().reason, "is too large");
        }
        assert!(Cost::from_ten_thousandths(10_000_000_000_000_000_000).is_err());
    }

    #[test]
    fn the_maximum_is_the_largest_numeric_19_4() {
        assert_eq!(
            MAX,
            Decimal::from_str_exact("999999999999999.9999").unwrap()
        );
    }

    #[test]
    fn a_decimal_converts_only_if_a_cost_can_be_it_without_rounding() {
        let dec = |s: &str| Decimal::from_str_exact(s).unwrap();
        // Trailing zeros past the fourth decimal are not precision.
        assert_eq!(
            Cost::try_from(dec("1.250000")).unwrap().to_string(),
            "1.2500"
        );
        assert_eq!(Cost::try_from(-Decimal::ZERO).unwrap(), Cost::ZERO);
        assert_eq!(
            Cost::try_from(-Decimal::ZERO).unwrap().to_string(),
            "0.0000"
        );
        for (bad, reason) in [
            ("0.00001", "has more than four decimals"),
            ("-0.0001", "must not be negative"),
            ("1000000000000000", "is too large"),
        ] {
            assert_eq!(
                Cost::try_from(dec(bad)).unwrap_err().reason,
                reason,
                "{bad}"
            );
        }
        assert_eq!(Decimal::from(Cost::parse("1.5").unwrap()), dec("1.5000"));
    }

    #[test]
    fn sums_are_exact_and_stop_at_the_column_maximum() {
        let max = Cost::from_ten_thousandths(9_999_999_999_999_999_999).unwrap();
        let tenth = Cost::parse("0.1").unwrap();
        let fifth = Cost::parse("0.2").unwrap();
        assert_eq!(tenth.checked_add(fifth), Some(Cost::parse("0.3").unwrap()));
        assert_eq!(max.checked_add(Cost::ZERO), Some(max));
        assert_eq!(
            max.checked_add(Cost::from_ten_thousandths(1).unwrap()),
            None
        );
    }

    proptest! {
        #[test]
        fn every_cost_round_trips_through_text_json_and_decimal(
            n in 0u64..=9_999_999_999_999_999_999,
        ) {
            let cost = Cost::from_ten_thousandths(n).unwrap();
            prop_assert_eq!(cost.ten_thousandths(), n);
            prop_assert_eq!(Cost::parse(&cost.to_string()).unwrap(), cost);
            let json = serde_json::to_string(&cost).unwrap();
            prop_assert_eq!(serde_json::from_str::<Cost>(&json).unwrap(), cost);
            prop_assert_eq!(Cost::try_from(Decimal::from(cost)).unwrap(), cost);
        }

        #[test]
        fn parsing_any_string_never_panics(s in ".*") {
            if let Err(e) = Cost::parse(&s) {
                prop_assert_eq!(e.kind, "cost");
            }
        }
    }
}
