//! Keyset (cursor) pagination shared by every list endpoint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::Order;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::AppError;

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

/// `?limit=&cursor=`; the cursor is opaque to clients.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The SQL order of a page read newest or highest first (`descending`) or the other way.
pub fn sql_order(descending: bool) -> Order {
    if descending { Order::Desc } else { Order::Asc }
}

/// A page size asked for: 1 to `MAX_LIMIT`, or `default` when none was given.
pub fn checked_limit(limit: Option<u64>, default: u64) -> Result<u64, AppError> {
    match limit {
        None => Ok(default),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(AppError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

impl PageParams {
    pub fn limit(&self) -> Result<u64, AppError> {
        checked_limit(self.limit, DEFAULT_LIMIT)
    }

    /// The id of the last item of the previous page.
    pub fn cursor_id(&self) -> Result<Option<i64>, AppError> {
        self.cursor
            .as_deref()
            .map(|cursor| {
                URL_SAFE_NO_PAD
                    .decode(cursor)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .and_then(|text| text.strip_prefix("id:")?.parse().ok())
                    .ok_or_else(|| AppError::invalid("cursor", "is not a cursor from this API"))
            })
            .transpose()
    }
}

/// A page of items and the cursor of the next one (absent on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows; the extra row only signals that more follow.
    pub fn from_rows(mut rows: Vec<T>, limit: u64, id_of: impl Fn(&T) -> i64) -> Self {
        let has_more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = has_more
            .then(|| rows.last().map(|last| encode_cursor(id_of(last))))
            .flatten();
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

pub fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let params = PageParams {
            limit: Some(5),
            cursor: Some(encode_cursor(41)),
        };
        assert_eq!(params.cursor_id().unwrap(), Some(41));
        assert_eq!(params.limit().unwrap(), 5);
    }

    #[test]
    fn bad_cursor_and_limit_are_rejected() {
        let params = PageParams {
            limit: Some(0),
            cursor: Some("garbage!".into()),
        };
        assert!(params.cursor_id().is_err());
        assert!(params.limit().is_err());
        assert!(
            PageParams {
                limit: Some(101),
                cursor: None
            }
            .limit()
            .is_err()
        );
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, Some(encode_cursor(2)));
        let last = Page::from_rows(vec![1, 2], 2, |n| *n);
        assert_eq!(last.next_cursor, None);
    }
}
