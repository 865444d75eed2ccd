//! Message search: the words of live messages in an index of their own, matched by
//! prefix per word with the catalog's rules (any case, `ё` = `е`, Cyrillic and Latin),
//! only in chats the searcher is in now.

use std::collections::BTreeSet;

use axum::extract::State;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::entity::{chat_participants, message_search_token, messages};
use super::messages::views_across;
use super::model::MessageView;
use crate::auth::CurrentUser;
use crate::db::write::WriteTx;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Query as QueryParams};
use crate::pagination::checked_limit;
use crate::state::AppState;
use crate::words::{prefix_end, query_words, tokens};

/// Longest search query accepted.
pub const MAX_QUERY_CHARS: usize = 200;
const DEFAULT_RESULTS: u64 = 20;

/// Indexes a message's words (after it was written or edited; edits call `unindex` first).
pub async fn index(tx: &WriteTx<'_>, message: &messages::Model) -> AppResult<()> {
    let words: BTreeSet<String> = tokens(&message.text).into_iter().collect();
    if words.is_empty() {
        return Ok(());
    }
    let rows = words
        .into_iter()
        .map(|token| message_search_token::ActiveModel {
            token: Set(token),
            message_id: Set(message.id),
            chat_id: Set(message.chat_id),
        });
    tx.execute(&message_search_token::Entity::insert_many(rows).into_query())
        .await?;
    Ok(())
}

pub async fn unindex(tx: &WriteTx<'_>, message_id: i64) -> AppResult<()> {
    let words = message_search_token::Entity::delete_many()
        .filter(message_search_token::Column::MessageId.eq(message_id))
        .into_query();
    tx.execute(&words).await?;
    Ok(())
}

/// The words of `q`; `None` for a blank query, empty for one without words.
pub fn search_words(q: &str) -> AppResult<Vec<String>> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(AppError::invalid(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters long"),
        ));
    }
    Ok(query_words(q))
}

/// Where a page of results ends: before a message id (across chats) or before a
/// sequence number (in one chat, where both orders agree).
#[derive(Debug, Clone, Copy)]
pub enum Before {
    Id(i64),
    Seq(i64),
    Nothing,
}

/// Live messages of my chats (or of one of them) having, for every word, a word that
/// starts with it; newest first, before message id `before`.
pub async fn find(
    conn: &impl ConnectionTrait,
    me: i64,
    chat_id: Option<i64>,
    words: &[String],
    before: Before,
    limit: u64,
) -> AppResult<Vec<messages::Model>> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = messages::Entity::find()
        .join(
            JoinType::InnerJoin,
            messages::Entity::belongs_to(chat_participants::Entity)
                .from(messages::Column::ChatId)
                .to(chat_participants::Column::ChatId)
                .into(),
        )
        .filter(chat_participants::Column::UserId.eq(me))
        .filter(messages::Column::DeletedAt.is_null());
    for word in words {
        let mut ids = Query::select();
        ids.column(message_search_token::Column::MessageId)
            .from(message_search_token::Entity)
            .and_where(Expr::col(message_search_token::Column::Token).gte(word.as_str()))
            .and_where(Expr::col(message_search_token::Column::Token).lt(prefix_end(word)));
        if let Some(chat_id) = chat_id {
            ids.and_where(Expr::col(message_search_token::Column::ChatId).eq(chat_id));
        }
        query = query.filter(messages::Column::Id.in_subquery(ids.to_owned()));
    }
    if let Some(chat_id) = chat_id {
        query = query.filter(messages::Column::ChatId.eq(chat_id));
    }
    query = match before {
        Before::Id(id) => query.filter(messages::Column::Id.lt(id)),
        Before::Seq(seq) => query.filter(messages::Column::Seq.lt(seq)),
        Before::Nothing => query,
    };
    Ok(query
        .order_by_desc(messages::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words, each matching the start of a word of the message.
    pub q: String,
    /// `next` of the previous page.
    pub before: Option<i64>,
    /// 1–100 (default 20).
    pub limit: Option<u64>,
}

/// Found messages, newest first, and where the next page starts.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<MessageView>,
    /// Pass as `before` for the next page.
    pub next: Option<i64>,
}

/// Searches the messages of all my chats.
#[utoipa::path(
    get,
    path = "/messages/search",
    tag = "chat",
    security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, body = SearchPage),
        (status = 422, description = "a too long `q` or a bad `limit`", body = Problem),
    )
)]
pub async fn search_messages(
    State(state): State<AppState>,
    user: CurrentUser,
    QueryParams(query): QueryParams<SearchQuery>,
) -> AppResult<Json<SearchPage>> {
    let limit = checked_limit(query.limit, DEFAULT_RESULTS)?;
    let words = search_words(&query.q)?;
    let before = query.before.map_or(Before::Nothing, Before::Id);
    let rows = find(&state.db, user.user_id, None, &words, before, limit + 1).await?;
    let has_more = rows.len() as u64 > limit;
    let rows: Vec<messages::Model> = rows.into_iter().take(limit as usize).collect();
    let next = has_more.then(|| rows.last().map(|m| m.id)).flatten();
    Ok(Json(SearchPage {
        items: views_across(&state, rows).await?,
        next,
    }))
}
