//! Integers of JSON request bodies as JSON Schema (and so the OpenAPI
//! document) counts them: `7`, and also `7.0` or `7e0`, the same number
//! written as a float. A fraction, or a float beyond 2^53 (where floats
//! stop being exact), is still refused as a malformed body.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// Largest integer every float below it represents exactly.
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

struct Integer;

impl Visitor<'_> for Integer {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v.abs() <= EXACT_F64 {
            Ok(v as i64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

/// `#[serde(deserialize_with = "integer::required")]`
pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(Integer)
}

/// `#[serde(default, deserialize_with = "integer::optional")]`: null or absent is `None`.
pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct OptionalInteger;
    impl<'de> Visitor<'de> for OptionalInteger {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            required(d).map(Some)
        }
    }
    d.deserialize_option(OptionalInteger)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::required")]
        seq: i64,
        #[serde(default, deserialize_with = "super::optional")]
        reply_to: Option<i64>,
    }

    fn parse(json: &str) -> Option<(i64, Option<i64>)> {
        serde_json::from_str::<Body>(json)
            .ok()
            .map(|b| (b.seq, b.reply_to))
    }

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(parse(r#"{"seq": 7}"#), Some((7, None)));
        assert_eq!(
            parse(r#"{"seq": 6083.0, "reply_to": 5e1}"#),
            Some((6083, Some(50)))
        );
        assert_eq!(parse(r#"{"seq": -1, "reply_to": null}"#), Some((-1, None)));
    }

    #[test]
    fn fractions_and_out_of_range_numbers_are_refused() {
        assert_eq!(parse(r#"{"seq": 7.5}"#), None, "a fraction");
        assert_eq!(parse(r#"{"seq": 9223372036854775808}"#), None, "above i64");
        assert_eq!(parse(r#"{"seq": 1e300}"#), None, "a float beyond 2^53");
        assert_eq!(parse(r#"{"seq": "7"}"#), None, "a string");
    }
}
