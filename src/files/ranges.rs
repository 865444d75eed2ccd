//! The `Range` header of downloads, read as RFC 9110 §14 has it.

use axum::http::{HeaderMap, header};

/// What a `Range` header asks of a representation of `size` bytes (RFC 9110 §14).
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No range, or one this server ignores: the whole file, 200.
    Whole,
    /// One satisfiable range, first and last byte included: 206.
    Part(u64, u64),
    /// Valid, but no range overlaps the representation: 416.
    Unsatisfiable,
}

/// A `Range` of bytes in one piece. A syntactically invalid header is ignored, as
/// RFC 9110 §14.2 allows; so are several satisfiable ranges (no multipart answers).
pub fn requested_range(headers: &HeaderMap, size: u64) -> RangeAnswer {
    let Some(value) = headers.get(header::RANGE) else {
        return RangeAnswer::Whole;
    };
    let Some(specs) = value.to_str().ok().and_then(parse_byte_ranges) else {
        return RangeAnswer::Whole;
    };
    let mut satisfiable = specs.into_iter().filter_map(|spec| spec.resolve(size));
    match (satisfiable.next(), satisfiable.next()) {
        (None, _) => RangeAnswer::Unsatisfiable,
        (Some((first, last)), None) => RangeAnswer::Part(first, last),
        (Some(_), Some(_)) => RangeAnswer::Whole,
    }
}

/// `If-Range` (RFC 9110 §13.1.5): a range is served only when the client's copy is the
/// current one, named by its strong ETag or its exact `Last-Modified` date; otherwise the
/// whole file is sent. True without the header.
pub fn if_range_holds(headers: &HeaderMap, etag: &str, last_modified: &str) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else {
        return true;
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value.starts_with('"') {
        value == etag
    } else {
        // weak tags never match; a date matches only exactly
        !value.starts_with("W/") && value == last_modified
    }
}

/// One `range-spec`.
#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    /// `first-` or `first-last`.
    From { first: u64, last: Option<u64> },
    /// `-length`: the last `length` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The bytes selected from a representation of `size` bytes, if any.
    fn resolve(&self, size: u64) -> Option<(u64, u64)> {
        let end = size.checked_sub(1)?;
        match *self {
            Self::From { first, last } => {
                (first <= end).then(|| (first, last.unwrap_or(end).min(end)))
            }
            // a suffix longer than the representation selects all of it
            Self::Suffix(length) => (length > 0).then(|| (size.saturating_sub(length), end)),
        }
    }
}

/// `bytes=` followed by a comma-separated list of range specs; `None` when malformed.
fn parse_byte_ranges(value: &str) -> Option<Vec<ByteRange>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let specs: Vec<ByteRange> = set
        .split(',')
        .map(|spec| spec.trim_matches([' ', '\t']))
        // a list may hold empty elements (RFC 9110 §5.6.1)
        .filter(|spec| !spec.is_empty())
        .map(parse_byte_range)
        .collect::<Option<_>>()?;
    (!specs.is_empty()).then_some(specs)
}

fn parse_byte_range(spec: &str) -> Option<ByteRange> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(ByteRange::Suffix(parse_position(last)?));
    }
    let first = parse_position(first)?;
    let last = match last {
        "" => None,
        last => Some(parse_position(last)?),
    };
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(ByteRange::From { first, last })
}

/// Digits only; a number too large for u64 is as good as infinite.
fn parse_position(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_range(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ranges() {
        use RangeAnswer::{Part, Unsatisfiable, Whole};
        let cases = [
            ("bytes=0-9", Part(0, 9)),
            ("bytes=90-", Part(90, 99)),
            ("bytes=0-", Part(0, 99)),
            ("bytes=-10", Part(90, 99)),
            ("bytes=50-500", Part(50, 99)),
            ("bytes=99-99", Part(99, 99)),
            // a suffix longer than the file selects all of it
            ("bytes=-100", Part(0, 99)),
            ("bytes=-101", Part(0, 99)),
            ("bytes=-99999999999999999999999", Part(0, 99)),
            ("bytes=0-99999999999999999999999", Part(0, 99)),
            ("Bytes=0-9", Part(0, 9)),
            (" bytes=0-9 ", Part(0, 9)),
            ("bytes=0-9 , ", Part(0, 9)),
            // one satisfiable range among unsatisfiable ones
            ("bytes=200-300, 5-6", Part(5, 6)),
            ("bytes=100-", Unsatisfiable),
            ("bytes=100-200", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=99999999999999999999999-", Unsatisfiable),
            ("bytes=200-300,400-", Unsatisfiable),
            // several satisfiable ranges: the whole file
            ("bytes=0-1,5-6", Whole),
            ("bytes=0-1, 5-6", Whole),
            // malformed: ignored
            ("bytes=-", Whole),
            ("bytes=5-3", Whole),
            ("bytes=0-1,5-3", Whole),
            ("bytes=", Whole),
            ("bytes=,", Whole),
            ("bytes=a-b", Whole),
            ("bytes=+1-2", Whole),
            ("bytes=0 - 9", Whole),
            ("bytes=1-2-3", Whole),
            ("bytes 0-9", Whole),
            ("pages=1-2", Whole),
            ("bytes=--5", Whole),
        ];
        for (value, expected) in cases {
            assert_eq!(
                requested_range(&with_range(value), 100),
                expected,
                "{value}"
            );
        }
        assert_eq!(requested_range(&HeaderMap::new(), 100), Whole);
        assert_eq!(requested_range(&with_range("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(requested_range(&with_range("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn if_range_names_the_current_copy() {
        let date = "Tue, 01 Dec 2026 10:00:00 GMT";
        let with_if_range = |value: &str| {
            let mut headers = with_range("bytes=0-9");
            headers.insert(header::IF_RANGE, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(if_range_holds(&with_range("bytes=0-9"), "\"abc\"", date));
        assert!(if_range_holds(&with_if_range("\"abc\""), "\"abc\"", date));
        assert!(if_range_holds(&with_if_range(date), "\"abc\"", date));
        assert!(!if_range_holds(&with_if_range("\"old\""), "\"abc\"", date));
        assert!(!if_range_holds(
            &with_if_range("W/\"abc\""),
            "\"abc\"",
            date
        ));
        assert!(!if_range_holds(
            &with_if_range("Mon, 30 Nov 2026 10:00:00 GMT"),
            "\"abc\"",
            date
        ));
    }
}
