//! Lists of drafts of both kinds in one stable order, a page at a time: a member's own,
//! newest first, and the moderators' queue, the longest waiting first.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::{Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::model::{DraftKind, DraftResponse, DraftStatus};
use super::repo::{column, mechanism_responses, watch_responses};
use crate::catalog::entity::{draft_mechanism, draft_watch};
use crate::error::{AppError, AppResult};
use crate::pagination::{Page, PageParams, sql_order};

/// Which drafts a list shows, in which order, and which page of them.
pub struct ListFilter {
    pub author: Option<i64>,
    pub status: Option<DraftStatus>,
    pub kinds: Vec<DraftKind>,
    pub order: ListOrder,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
    /// Drafts per page.
    pub limit: u64,
}

impl ListFilter {
    /// Anyone's drafts in any status, of `kind` or of both kinds when none is named, in
    /// `order`: the page of `limit` (default 20) after `cursor`. A bad limit or cursor is a
    /// 422, the limit judged first.
    pub fn new(
        order: ListOrder,
        kind: Option<DraftKind>,
        limit: Option<u64>,
        cursor: Option<&str>,
    ) -> AppResult<Self> {
        let limit = PageParams {
            limit,
            cursor: None,
        }
        .limit()?;
        Ok(Self {
            author: None,
            status: None,
            kinds: kind.map_or(DraftKind::ALL.to_vec(), |kind| vec![kind]),
            order,
            cursor: cursor.map(Cursor::decode).transpose()?,
            limit,
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub enum ListOrder {
    /// A member's drafts: newest first.
    NewestCreated,
    /// The moderation queue: the longest waiting first.
    OldestSubmitted,
}

impl ListOrder {
    fn time_column(self) -> &'static str {
        match self {
            ListOrder::NewestCreated => "created_at",
            ListOrder::OldestSubmitted => "submitted_at",
        }
    }

    fn descending(self) -> bool {
        matches!(self, ListOrder::NewestCreated)
    }

    /// The sort key: time, then kind, then id, so that both kinds interleave stably.
    fn key(self, draft: &DraftResponse) -> Cursor {
        let at = match self {
            ListOrder::NewestCreated => draft.created_at,
            ListOrder::OldestSubmitted => draft.submitted_at.unwrap_or(draft.created_at),
        };
        Cursor {
            at,
            kind: draft.kind,
            id: draft.id,
        }
    }

    fn compare(self, a: &Cursor, b: &Cursor) -> Ordering {
        let ascending = (a.at, rank(a.kind), a.id).cmp(&(b.at, rank(b.kind), b.id));
        if self.descending() {
            ascending.reverse()
        } else {
            ascending
        }
    }

    /// Rows of `kind` that come after `cursor` in this order.
    fn after(self, kind: DraftKind, cursor: &Cursor) -> Condition {
        let time = || column(self.time_column());
        let (later_time, later_id) = if self.descending() {
            (time().lt(cursor.at), column("id").lt(cursor.id))
        } else {
            (time().gt(cursor.at), column("id").gt(cursor.id))
        };
        let same_time = time().eq(cursor.at);
        let condition = Condition::any().add(later_time);
        let (rank, cursor_rank) = (rank(kind), rank(cursor.kind));
        // at the cursor's very time, the kinds are in rank order, and ids within a kind
        let kind_comes_later = if self.descending() {
            rank < cursor_rank
        } else {
            rank > cursor_rank
        };
        if rank == cursor_rank {
            condition.add(Condition::all().add(same_time).add(later_id))
        } else if kind_comes_later {
            condition.add(same_time)
        } else {
            condition
        }
    }
}

fn rank(kind: DraftKind) -> u8 {
    match kind {
        DraftKind::Watch => 0,
        DraftKind::Mechanism => 1,
    }
}

/// Where a page of drafts ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    at: DateTime<Utc>,
    kind: DraftKind,
    id: i64,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "draft:{}:{}:{}",
            self.at.timestamp_micros(),
            self.kind.as_str(),
            self.id
        ))
    }

    fn decode(cursor: &str) -> AppResult<Self> {
        let parse = || -> Option<Cursor> {
            let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
            let mut parts = text.strip_prefix("draft:")?.split(':');
            let at = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
            let kind_name = parts.next()?;
            let kind = DraftKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == kind_name)?;
            let id = parts.next()?.parse().ok()?;
            Some(Cursor { at, kind, id })
        };
        parse().ok_or_else(|| AppError::invalid("cursor", "is not a cursor from this API"))
    }
}

/// The page of drafts the filter names.
pub async fn list(
    conn: &impl ConnectionTrait,
    public_url: &str,
    filter: &ListFilter,
) -> AppResult<Page<DraftResponse>> {
    let (order, limit) = (filter.order, filter.limit);
    let direction = sql_order(order.descending());
    let mut drafts = Vec::new();
    for &kind in &filter.kinds {
        let mut condition = Condition::all();
        if let Some(author) = filter.author {
            condition = condition.add(column("user_id").eq(author));
        }
        if let Some(status) = filter.status {
            condition = condition.add(column("status").eq(status.as_str()));
        }
        if let Some(cursor) = &filter.cursor {
            condition = condition.add(order.after(kind, cursor));
        }
        // each kind contributes at most one page and the row telling more follow
        macro_rules! page_of {
            ($entity:ty) => {
                <$entity>::find()
                    .filter(condition)
                    .order_by(column(order.time_column()), direction.clone())
                    .order_by(column("id"), direction.clone())
                    .limit(limit + 1)
                    .all(conn)
                    .await?
            };
        }
        drafts.extend(match kind {
            DraftKind::Watch => {
                watch_responses(conn, public_url, page_of!(draft_watch::Entity)).await?
            }
            DraftKind::Mechanism => {
                mechanism_responses(conn, page_of!(draft_mechanism::Entity)).await?
            }
        });
    }
    drafts.sort_by(|a, b| order.compare(&order.key(a), &order.key(b)));
    let has_more = drafts.len() as u64 > limit;
    drafts.truncate(limit as usize);
    let next_cursor = has_more
        .then(|| drafts.last().map(|last| order.key(last).encode()))
        .flatten();
    Ok(Page {
        items: drafts,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            at: super::super::repo::now(),
            kind: DraftKind::Mechanism,
            id: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(
            Cursor::decode("aWQ6NDI").is_err(),
            "a plain id cursor is refused"
        );
        assert!(Cursor::decode("garbage!").is_err());
    }
}
