//! Message search: the words of live messages in an index of their own, matched by
//! prefix per word with the catalog's rules (any case, `ё` = `е`, Cyrillic and Latin),
//! only in chats the searcher is in now.

use std::collections::{BTreeSet, HashSet};

use axum::extract::State;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Alias, Expr, Order, Query, SelectStatement};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::entity::{chat_participants, message_search_token, messages};
use super::messages::views_across;
use super::model::MessageView;
use crate::auth::CurrentUser;
use crate::db::read::Reader;
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

/// Postings of the walked word read in the first batch; each further batch reads four
/// times more, up to `MAX_BATCH`.
const FIRST_BATCH: u64 = 32;
const MAX_BATCH: u64 = 2048;
/// Postings counted per word, at most, to pick the rarest word as the one to walk.
const COUNT_CAP: u64 = 1000;
/// A prefix matching more distinct words than this is walked as one range.
const MAX_WALKED_TOKENS: usize = 16;

/// How the walked word's postings are read newest first: word by word along the index
/// (a prefix of a few words), or as one sorted range (a prefix of many).
enum Walk {
    Tokens(Vec<String>),
    Range(String),
}

/// Live messages of my chats (or of one of them) having, for every word, a word that
/// starts with it; newest first, before `before`, at most `limit`.
///
/// It walks the rarest word's messages from the newest, a batch at a time, keeps those
/// having the other words, in a chat of mine and not deleted, and stops as soon as it
/// has `limit`: a word found in many messages costs about as much as a rare one.
pub async fn find(
    reader: &Reader,
    me: i64,
    chat_id: Option<i64>,
    words: &[String],
    before: Before,
    limit: u64,
) -> AppResult<Vec<messages::Model>> {
    if words.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let my_chats = my_chats(reader, me, chat_id).await?;
    if my_chats.is_empty() {
        return Ok(Vec::new());
    }
    let Some(mut below) = id_bound(reader, chat_id, before).await? else {
        return Ok(Vec::new());
    };
    let Some(rarest) = rarest_word(reader, chat_id, words).await? else {
        return Ok(Vec::new());
    };
    let walk = match distinct_tokens(reader, chat_id, &words[rarest]).await? {
        Some(tokens) => Walk::Tokens(tokens),
        None => Walk::Range(words[rarest].clone()),
    };
    let mut found = Vec::new();
    let mut batch = FIRST_BATCH.max(limit);
    loop {
        let mut ids = newest_postings(reader, chat_id, &walk, below, batch).await?;
        let exhausted = (ids.len() as u64) < batch;
        let Some(&oldest) = ids.last() else { break };
        below = oldest;
        for (index, word) in words.iter().enumerate() {
            if index != rarest && !ids.is_empty() {
                let having = having_word(reader, &ids, word).await?;
                ids.retain(|id| having.contains(id));
            }
        }
        let mut rows = live_messages(reader, ids).await?;
        rows.retain(|message| my_chats.contains(&message.chat_id));
        rows.sort_unstable_by_key(|message| std::cmp::Reverse(message.id));
        found.extend(rows);
        if found.len() as u64 >= limit || exhausted {
            break;
        }
        batch = (batch * 4).min(MAX_BATCH);
    }
    found.truncate(limit as usize);
    Ok(found)
}

/// The chats I am in now (among them only `chat_id`, when given).
async fn my_chats(reader: &Reader, me: i64, chat_id: Option<i64>) -> AppResult<HashSet<i64>> {
    let mut query = Query::select();
    query
        .column(chat_participants::Column::ChatId)
        .from(chat_participants::Entity)
        .and_where(Expr::col(chat_participants::Column::UserId).eq(me));
    if let Some(chat_id) = chat_id {
        query.and_where(Expr::col(chat_participants::Column::ChatId).eq(chat_id));
    }
    reader.column(&query, "chat_id").await
}

/// The message id results stay below; `None` when nothing can be before `before`.
async fn id_bound(reader: &Reader, chat_id: Option<i64>, before: Before) -> AppResult<Option<i64>> {
    match (before, chat_id) {
        (Before::Id(id), _) => Ok(Some(id)),
        (Before::Seq(seq), Some(chat_id)) => {
            let query = Query::select()
                .column(messages::Column::Id)
                .from(messages::Entity)
                .and_where(Expr::col(messages::Column::ChatId).eq(chat_id))
                .and_where(Expr::col(messages::Column::Seq).lt(seq))
                .order_by(messages::Column::Seq, Order::Desc)
                .limit(1)
                .to_owned();
            match reader.one(&query).await? {
                Some(row) => Ok(Some(row.get::<i64>("id")? + 1)),
                None => Ok(None),
            }
        }
        (Before::Seq(_), None) | (Before::Nothing, _) => Ok(Some(i64::MAX)),
    }
}

/// Postings of this chat, or of all of them.
fn postings(chat_id: Option<i64>) -> SelectStatement {
    let mut query = Query::select();
    query.from(message_search_token::Entity);
    if let Some(chat_id) = chat_id {
        query.and_where(Expr::col(message_search_token::Column::ChatId).eq(chat_id));
    }
    query
}

fn starting_with(query: &mut SelectStatement, word: &str) {
    query
        .and_where(Expr::col(message_search_token::Column::Token).gte(word))
        .and_where(Expr::col(message_search_token::Column::Token).lt(prefix_end(word)));
}

/// The index of the word with the fewest postings (counted up to `COUNT_CAP`; a tie
/// goes to the longer word); `None` when a word has none, so nothing matches.
async fn rarest_word(
    reader: &Reader,
    chat_id: Option<i64>,
    words: &[String],
) -> AppResult<Option<usize>> {
    if words.len() == 1 {
        return Ok(Some(0));
    }
    let mut rarest: Option<(i64, usize)> = None;
    for (index, word) in words.iter().enumerate() {
        let mut capped = postings(chat_id);
        capped
            .column(message_search_token::Column::MessageId)
            .limit(COUNT_CAP);
        starting_with(&mut capped, word);
        let count = Query::select()
            .expr_as(
                Expr::col(message_search_token::Column::MessageId).count(),
                Alias::new("postings"),
            )
            .from_subquery(capped, Alias::new("capped"))
            .to_owned();
        let found = match reader.one(&count).await? {
            Some(row) => row.get::<i64>("postings")?,
            None => 0,
        };
        if found == 0 {
            return Ok(None);
        }
        let rarer = rarest.is_none_or(|(fewest, chosen)| {
            found < fewest || (found == fewest && word.len() > words[chosen].len())
        });
        if rarer {
            rarest = Some((found, index));
        }
    }
    Ok(rarest.map(|(_, index)| index))
}

/// The distinct words starting with `word`, found one index seek each; `None` when
/// there are more than `MAX_WALKED_TOKENS`.
async fn distinct_tokens(
    reader: &Reader,
    chat_id: Option<i64>,
    word: &str,
) -> AppResult<Option<Vec<String>>> {
    let mut tokens: Vec<String> = Vec::new();
    loop {
        let mut query = postings(chat_id);
        query.column(message_search_token::Column::Token);
        match tokens.last() {
            Some(last) => {
                query.and_where(Expr::col(message_search_token::Column::Token).gt(last.as_str()))
            }
            None => query.and_where(Expr::col(message_search_token::Column::Token).gte(word)),
        };
        query
            .and_where(Expr::col(message_search_token::Column::Token).lt(prefix_end(word)))
            .order_by(message_search_token::Column::Token, Order::Asc)
            .limit(1);
        let Some(row) = reader.one(&query).await? else {
            return Ok(Some(tokens));
        };
        if tokens.len() == MAX_WALKED_TOKENS {
            return Ok(None);
        }
        tokens.push(row.get::<String>("token")?);
    }
}

/// The newest `batch` message ids below `below` having the walked word, newest first.
async fn newest_postings(
    reader: &Reader,
    chat_id: Option<i64>,
    walk: &Walk,
    below: i64,
    batch: u64,
) -> AppResult<Vec<i64>> {
    let newest = |filter: &dyn Fn(&mut SelectStatement)| {
        let mut query = postings(chat_id);
        query
            .column(message_search_token::Column::MessageId)
            .and_where(Expr::col(message_search_token::Column::MessageId).lt(below))
            .order_by(message_search_token::Column::MessageId, Order::Desc)
            .limit(batch);
        filter(&mut query);
        query
    };
    let queries: Vec<SelectStatement> = match walk {
        Walk::Tokens(tokens) => tokens
            .iter()
            .map(|token| {
                newest(&|query: &mut SelectStatement| {
                    query.and_where(
                        Expr::col(message_search_token::Column::Token).eq(token.as_str()),
                    );
                })
            })
            .collect(),
        Walk::Range(word) => vec![newest(&|query: &mut SelectStatement| {
            starting_with(query, word)
        })],
    };
    let mut ids = Vec::new();
    for query in &queries {
        for row in reader.all(query).await? {
            ids.push(row.get::<i64>("message_id")?);
        }
    }
    // each list holds its newest `batch`, so the newest `batch` of all are complete
    ids.sort_unstable_by_key(|id| std::cmp::Reverse(*id));
    ids.dedup();
    ids.truncate(batch as usize);
    Ok(ids)
}

/// Which of these messages have a word starting with `word`.
async fn having_word(reader: &Reader, ids: &[i64], word: &str) -> AppResult<HashSet<i64>> {
    let mut query = Query::select();
    query
        .distinct()
        .column(message_search_token::Column::MessageId)
        .from(message_search_token::Entity)
        .and_where(Expr::col(message_search_token::Column::MessageId).is_in(ids.iter().copied()));
    starting_with(&mut query, word);
    reader.column(&query, "message_id").await
}

/// These messages, those not deleted.
async fn live_messages(reader: &Reader, ids: Vec<i64>) -> AppResult<Vec<messages::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = messages::Entity::find()
        .filter(messages::Column::Id.is_in(ids))
        .filter(messages::Column::DeletedAt.is_null())
        .into_query();
    reader
        .all(&query)
        .await?
        .iter()
        .map(|row| row.model::<messages::Entity>(""))
        .collect()
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
    path = "/api/v1/messages/search",
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
    let rows = find(&state.reader, user.user_id, None, &words, before, limit + 1).await?;
    let has_more = rows.len() as u64 > limit;
    let rows: Vec<messages::Model> = rows.into_iter().take(limit as usize).collect();
    let next = has_more.then(|| rows.last().map(|m| m.id)).flatten();
    Ok(Json(SearchPage {
        items: views_across(&state, rows).await?,
        next,
    }))
}
