//! [`Cost`]: an exact amount of US dollars, as the `NUMERIC(19,4)` money columns hold it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueFormat, PgValueRef, Postgres};

use crate::types::InvalidValue;

/// A non-negative amount of US dollars, exact to 1/10 000 (the scale of the spec's `DECIMAL(19,4)`
/// money columns, e.g. `ai_generations.cost`).
///
/// Held as a whole number of ten-thousandths of a dollar in an `i64`, so sums are exact and no
/// floating point is involved; the largest amount is $922 337 203 685 477.5807, within the column.
/// It binds and decodes as PostgreSQL `NUMERIC` directly (the binary format is written here, which is
/// why the crate needs no decimal library): a stored value with more than four decimals, a negative
/// value, NaN or one too large is refused when read. Text form (`Display`, `FromStr`, serde) is a
/// plain decimal such as `0.0125`; serde uses a string, so JSON never rounds it.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cost(i64);

const SCALE: i64 = 10_000;
const NUMERIC_OID: Oid = Oid(1700);
const SIGN_POSITIVE: u16 = 0x0000;
const SIGN_NEGATIVE: u16 = 0x4000;

impl Cost {
    /// Nothing.
    pub const ZERO: Cost = Cost(0);

    /// `n` ten-thousandths of a dollar (`12_500` is $1.25). Negative amounts are refused.
    pub fn from_ten_thousandths(n: i64) -> Result<Self, InvalidValue> {
        if n < 0 {
            return Err(InvalidValue::new("cost", "must not be negative"));
        }
        Ok(Self(n))
    }

    /// The amount in ten-thousandths of a dollar.
    pub fn ten_thousandths(self) -> i64 {
        self.0
    }

    /// Parses a plain decimal such as `12`, `0.5` or `0.0125`: digits, optionally a point and at
    /// most four decimals. No sign, exponent, grouping or currency symbol.
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
        if frac.len() > 4 {
            return Err(InvalidValue::new("cost", "has more than four decimals"));
        }
        let too_large = || InvalidValue::new("cost", "is too large");
        let whole_digits = whole.trim_start_matches('0');
        let whole: i64 = if whole_digits.is_empty() {
            0
        } else {
            whole_digits.parse().map_err(|_| too_large())?
        };
        let frac: i64 = format!("{frac:0<4}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(SCALE)
            .and_then(|w| w.checked_add(frac))
            .map(Self)
            .ok_or_else(too_large)
    }

    /// The sum, or `None` if it would be too large.
    pub fn checked_add(self, other: Cost) -> Option<Cost> {
        self.0.checked_add(other.0).map(Self)
    }

    /// Reads PostgreSQL's binary NUMERIC: digit count, weight (of the first digit, in powers of
    /// 10 000), sign, display scale, then base-10 000 digits.
    fn from_numeric(mut bytes: &[u8]) -> Result<Self, BoxDynError> {
        let mut next = || -> Result<u16, BoxDynError> {
            let (head, rest) = bytes
                .split_first_chunk::<2>()
                .ok_or("truncated NUMERIC value")?;
            bytes = rest;
            Ok(u16::from_be_bytes(*head))
        };
        let ndigits = next()?;
        let weight = next()? as i16;
        let sign = next()?;
        let _display_scale = next()?;
        if sign != SIGN_POSITIVE && sign != SIGN_NEGATIVE {
            return Err("stored cost is not a number (NaN or infinite)".into());
        }
        // value * 10 000 = sum of digit[i] * 10 000^(weight - i + 1)
        let mut total: i128 = 0;
        for i in 0..i32::from(ndigits) {
            let digit = next()? as i16;
            if !(0..10_000).contains(&digit) {
                return Err("invalid NUMERIC digit".into());
            }
            if digit == 0 {
                continue;
            }
            let exponent = i32::from(weight) - i + 1;
            if exponent < 0 {
                return Err("stored cost has more than four decimals".into());
            }
            let place = 10_000i128
                .checked_pow(exponent as u32)
                .filter(|p| *p <= i128::from(i64::MAX))
                .ok_or("stored cost is too large")?;
            total = place
                .checked_mul(i128::from(digit))
                .and_then(|d| total.checked_add(d))
                .ok_or("stored cost is too large")?;
        }
        if sign == SIGN_NEGATIVE && total != 0 {
            return Err("stored cost is negative".into());
        }
        Ok(Self(
            i64::try_from(total).map_err(|_| "stored cost is too large")?,
        ))
    }

    /// Writes PostgreSQL's binary NUMERIC (see [`Cost::from_numeric`]), normalised as the server does:
    /// no leading or trailing zero digits.
    fn to_numeric(self) -> Vec<u8> {
        let (mut whole, frac) = (self.0 / SCALE, self.0 % SCALE);
        let mut digits: Vec<i16> = Vec::with_capacity(6);
        while whole > 0 {
            digits.push((whole % SCALE) as i16);
            whole /= SCALE;
        }
        digits.reverse();
        let weight = digits.len() as i16 - 1;
        digits.push(frac as i16);
        while digits.last() == Some(&0) {
            digits.pop();
        }
        let weight = if digits.is_empty() { 0 } else { weight };
        let mut out = Vec::with_capacity(8 + 2 * digits.len());
        out.extend((digits.len() as u16).to_be_bytes());
        out.extend(weight.to_be_bytes());
        out.extend(SIGN_POSITIVE.to_be_bytes());
        out.extend(4u16.to_be_bytes());
        for d in digits {
            out.extend(d.to_be_bytes());
        }
        out
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:04}", self.0 / SCALE, self.0 % SCALE)
    }
}

impl fmt::Debug for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cost(${self})")
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
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cost {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(|e| serde::de::Error::custom(format_args!("invalid cost: {e}")))
    }
}

impl sqlx::Type<Postgres> for Cost {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(NUMERIC_OID)
    }
}

impl sqlx::Encode<'_, Postgres> for Cost {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend(self.to_numeric());
        Ok(IsNull::No)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Cost {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match value.format() {
            PgValueFormat::Binary => Self::from_numeric(value.as_bytes()?),
            // The simple protocol sends text, padded with zeros to the value's scale, which an
            // expression may raise beyond four (`cost * 1.0`): zeros past the fourth decimal are
            // not precision.
            PgValueFormat::Text => {
                let text = value.as_str()?;
                let text = match text.split_once('.') {
                    Some((whole, frac)) if frac.len() > 4 => {
                        let kept = frac.trim_end_matches('0');
                        &text[..whole.len() + 1 + kept.len().max(4)]
                    }
                    _ => text,
                };
                Ok(Self::parse(text)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_displays_plain_decimals() {
        assert_eq!(Cost::parse("0.0125").unwrap().ten_thousandths(), 125);
        assert_eq!(Cost::parse("12").unwrap().ten_thousandths(), 120_000);
        assert_eq!(Cost::parse("007.5").unwrap().to_string(), "7.5000");
        assert_eq!(Cost::parse("0").unwrap(), Cost::ZERO);
        assert_eq!(
            Cost::parse("922337203685477.5807")
                .unwrap()
                .ten_thousandths(),
            i64::MAX
        );
        for bad in [
            "", ".5", "5.", "-1", "+1", "1e3", "1,5", " 1", "0.00001", "1.2.3",
        ] {
            assert!(Cost::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Cost::parse("922337203685477.5808").unwrap_err().reason,
            "is too large"
        );
        assert!(Cost::from_ten_thousandths(-1).is_err());
    }

    #[test]
    fn numeric_encoding_is_normalised_like_the_server() {
        // 1.25 = digits [1, 2500], weight 0
        assert_eq!(
            Cost(12_500).to_numeric(),
            [0, 2, 0, 0, 0, 0, 0, 4, 0, 1, 0x09, 0xC4]
        );
        // 0 = no digits
        assert_eq!(Cost(0).to_numeric(), [0, 0, 0, 0, 0, 0, 0, 4]);
        // 10000 = digits [1], weight 1 (trailing zero digits dropped)
        assert_eq!(
            Cost(10_000 * SCALE).to_numeric(),
            [0, 1, 0, 1, 0, 0, 0, 4, 0, 1]
        );
    }

    #[test]
    fn numeric_decoding_refuses_what_a_cost_cannot_be() {
        let nan = [0, 0, 0, 0, 0xC0, 0, 0, 0];
        assert!(Cost::from_numeric(&nan).is_err());
        // -1: digits [1], weight 0, negative
        assert!(Cost::from_numeric(&[0, 1, 0, 0, 0x40, 0, 0, 0, 0, 1]).is_err());
        // 0.00001: digits [1000], weight -2 (five decimals)
        assert!(Cost::from_numeric(&[0, 1, 0xFF, 0xFE, 0, 0, 0, 5, 0x03, 0xE8]).is_err());
        // 10^24: digits [1], weight 6
        assert!(Cost::from_numeric(&[0, 1, 0, 6, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(Cost::from_numeric(&[0, 1, 0, 0]).is_err());
        // Not normalised (leading and trailing zero digits) still reads right.
        assert_eq!(
            Cost::from_numeric(&[0, 3, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0]).unwrap(),
            Cost(SCALE)
        );
    }

    proptest! {
        #[test]
        fn every_cost_round_trips_through_numeric_text_and_json(n in 0i64..=i64::MAX) {
            let cost = Cost(n);
            prop_assert_eq!(Cost::from_numeric(&cost.to_numeric()).unwrap(), cost);
            prop_assert_eq!(Cost::parse(&cost.to_string()).unwrap(), cost);
            let json = serde_json::to_string(&cost).unwrap();
            prop_assert_eq!(serde_json::from_str::<Cost>(&json).unwrap(), cost);
        }

        #[test]
        fn parsing_any_string_never_panics(s in ".*") {
            if let Err(e) = Cost::parse(&s) {
                prop_assert_eq!(e.kind, "cost");
            }
        }
    }
}
