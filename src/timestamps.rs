//! Timestamps in JSON answers, written as chrono writes them (RFC 3339 in UTC with `Z`,
//! the fraction of a second in 3, 6 or 9 digits, or none when it is zero) without going
//! through `fmt`: chrono's serializer formats character by character, and the two
//! timestamps of a member's profile took a tenth of `GET /users/me`. Anything outside the
//! common case (a year past 9999, a leap second) is left to chrono.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Serialize, Serializer};

/// `#[serde(serialize_with = "crate::timestamps::rfc3339")]`
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut text = [0u8; 30];
    match write(at, &mut text).and_then(|len| std::str::from_utf8(&text[..len]).ok()) {
        Some(text) => serializer.serialize_str(text),
        None => at.serialize(serializer),
    }
}

/// `#[serde(serialize_with = "crate::timestamps::optional_rfc3339")]`
pub fn optional_rfc3339<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z` into `out`; its length, or `None` when chrono
/// should write it.
fn write(at: &DateTime<Utc>, out: &mut [u8; 30]) -> Option<usize> {
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    put_digits(&mut out[0..4], year);
    out[4] = b'-';
    put_digits(&mut out[5..7], at.month());
    out[7] = b'-';
    put_digits(&mut out[8..10], at.day());
    out[10] = b'T';
    put_digits(&mut out[11..13], at.hour());
    out[13] = b':';
    put_digits(&mut out[14..16], at.minute());
    out[16] = b':';
    put_digits(&mut out[17..19], at.second());
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        _ if nanos % 1_000_000 == 0 => (nanos / 1_000_000, 3),
        _ if nanos % 1_000 == 0 => (nanos / 1_000, 6),
        _ => (nanos, 9),
    };
    let mut len = 19;
    if digits > 0 {
        out[19] = b'.';
        put_digits(&mut out[20..20 + digits], fraction);
        len = 20 + digits;
    }
    out[len] = b'Z';
    Some(len + 1)
}

/// `value` in decimal, zero-padded to fill `out`.
fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[derive(Serialize)]
    struct Fast(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);

    #[derive(Serialize)]
    struct Optional(#[serde(serialize_with = "optional_rfc3339")] Option<DateTime<Utc>>);

    fn json(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }

    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut samples = vec![
            Utc.timestamp_opt(0, 0).single(),
            Utc.timestamp_opt(1_764_547_200, 1_000_000).single(),
            Utc.timestamp_opt(1_764_547_200, 120_000).single(),
            Utc.timestamp_opt(1_764_547_200, 7).single(),
            Utc.timestamp_opt(253_402_300_799, 999_999_999).single(), // 9999-12-31T23:59:59
            Utc.timestamp_opt(253_402_300_800, 0).single(),           // year 10000: chrono's
            Utc.timestamp_opt(-62_198_755_200, 5_000).single(),       // year -1: chrono's
            Utc.timestamp_opt(1_483_228_799, 1_500_000_000).single(), // a leap second
        ];
        for _ in 0..2000 {
            let seconds = (next() % 4_000_000_000) as i64;
            let nanos = match next() % 4 {
                0 => 0,
                1 => (next() % 1000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                _ => (next() % 1_000_000_000) as u32,
            };
            samples.push(Utc.timestamp_opt(seconds, nanos).single());
        }
        for at in samples {
            let Some(at) = at else {
                panic!("every sample is a valid timestamp")
            };
            assert_eq!(json(&Fast(at)), json(&at), "{at:?}");
            assert_eq!(json(&Optional(Some(at))), json(&Some(at)), "{at:?}");
        }
        assert_eq!(json(&Optional(None)), "null");
    }
}
