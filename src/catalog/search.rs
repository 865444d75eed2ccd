//! The catalog's search index: each watch's folder, code, aliases and brand name are cut
//! into normalised words (lower case, `ё` as `е`, letters and digits only) and stored in
//! `watch_search_token`. A query matches watches that have, for every query word, a word
//! starting with it; each word is a range scan of the table's primary key. The same
//! normalisation on both databases gives the same results on SQLite and PostgreSQL,
//! whatever the PostgreSQL locale.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement, SimpleExpr, UnionType, Value};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};

use super::entity::{alias, watch, watch_search_token};
use crate::db::read::{Reader, Row};
use crate::error::AppResult;
use crate::pagination::sql_order;
use crate::words::{MAX_TOKEN_CHARS, prefix_end, query_words, tokens};

/// Marks an index entry that joins the words of one text: `\u{1}first\u{1}others`. No
/// word holds it and it sorts below every letter and digit, so the entries of words and
/// of joined texts never share a range.
const JOINED: char = '\u{1}';

/// The entry joining `words`, for a text of two words or more: codes such as "2414-A" are
/// also found written together ("2414a"). The first word stays apart, so that a query
/// word that is the start of it alone (`aqua` of "Aquanaut 5167") does not have to read
/// the joined entries: the word's own entry answers it.
fn joined_entry(words: &[String]) -> Option<String> {
    let (first, others) = words.split_first()?;
    let room = MAX_TOKEN_CHARS.saturating_sub(first.chars().count());
    let others: String = others.concat().chars().take(room).collect();
    (!others.is_empty()).then(|| format!("{JOINED}{first}{JOINED}{others}"))
}

/// The index entries of a watch's searchable text: its words, and each text's words
/// joined.
pub fn document_tokens<'a>(
    folder: &'a str,
    code: Option<&'a str>,
    brand: Option<&'a str>,
    aliases: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for text in [Some(folder), code, brand]
        .into_iter()
        .flatten()
        .chain(aliases)
    {
        let words = tokens(text);
        all.extend(joined_entry(&words));
        all.extend(words);
    }
    all
}

/// The ranges of index entries a query word matches: the words starting with it, and for
/// each cut of it in two, the joined texts whose first word is the head and whose other
/// words start with the tail. A joined text whose first word alone starts with the query
/// word needs no range: that word has its own entry.
fn word_ranges(prefix: &str) -> Vec<(String, String)> {
    let mut ranges = vec![(prefix.to_owned(), prefix_end(prefix))];
    for (cut, _) in prefix.char_indices().skip(1) {
        let start = format!("{JOINED}{}{JOINED}{}", &prefix[..cut], &prefix[cut..]);
        let end = prefix_end(&start);
        ranges.push((start, end));
    }
    ranges
}

/// Rewrites the index entries of one watch from its current rows.
pub async fn reindex(conn: &impl ConnectionTrait, watch_id: i64) -> AppResult<()> {
    delete_entries(conn, &[watch_id]).await?;
    let Some(watch) = watch::Entity::find_by_id(watch_id).one(conn).await? else {
        return Ok(());
    };
    let aliases: Vec<String> = alias::Entity::find()
        .select_only()
        .column(alias::Column::Key)
        .filter(alias::Column::WatchId.eq(watch_id))
        .into_tuple()
        .all(conn)
        .await?;
    let brand = match watch.brand_id {
        Some(id) => {
            super::references::name_of(conn, super::references::Reference::Brand, id).await?
        }
        None => None,
    };
    let words = document_tokens(
        &watch.folder,
        watch.code.as_deref(),
        brand.as_deref(),
        aliases.iter().map(String::as_str),
    );
    insert_entries(conn, [(watch_id, words)]).await
}

/// Rows per insert statement, and ids per delete.
const CHUNK: usize = 1024;

/// Removes the index entries of these watches.
pub async fn delete_entries(conn: &impl ConnectionTrait, watch_ids: &[i64]) -> AppResult<()> {
    for ids in crate::db::in_lists(watch_ids, CHUNK) {
        watch_search_token::Entity::delete_many()
            .filter(watch_search_token::Column::WatchId.is_in(ids))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Adds index entries: each watch with the words of `document_tokens`. The watches must
/// have none yet (new, or after `delete_entries`).
pub async fn insert_entries(
    conn: &impl ConnectionTrait,
    documents: impl IntoIterator<Item = (i64, BTreeSet<String>)>,
) -> AppResult<()> {
    let entries: Vec<(String, i64)> = documents
        .into_iter()
        .flat_map(|(watch_id, words)| words.into_iter().map(move |token| (token, watch_id)))
        .collect();
    for run in crate::db::rows(&entries, CHUNK) {
        let rows = run
            .iter()
            .map(|(token, watch_id)| watch_search_token::ActiveModel {
                token: sea_orm::Set(token.clone()),
                watch_id: sea_orm::Set(*watch_id),
            });
        watch_search_token::Entity::insert_many(rows)
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Reindexes every watch of a brand, after the brand was renamed.
pub async fn reindex_brand(conn: &impl ConnectionTrait, brand_id: i64) -> AppResult<()> {
    let ids: Vec<i64> = watch::Entity::find()
        .select_only()
        .column(watch::Column::Id)
        .filter(watch::Column::BrandId.eq(brand_id))
        .into_tuple()
        .all(conn)
        .await?;
    for id in ids {
        reindex(conn, id).await?;
    }
    Ok(())
}

/// The ids of the watches matching the query `q`, each once, as `watch_id`; `None` when
/// `q` has no words.
pub fn matching_ids(q: &str) -> Option<SelectStatement> {
    let word_ids = |word: &str| {
        Query::select()
            .column(watch_search_token::Column::WatchId)
            .from(watch_search_token::Entity)
            .and_where(entry_matches(word))
            .to_owned()
    };
    let words = query_words(q);
    let (first, others) = words.split_first()?;
    let mut ids = word_ids(first);
    ids.distinct();
    for word in others {
        ids.and_where(Expr::col(watch_search_token::Column::WatchId).in_subquery(word_ids(word)));
    }
    Some(ids)
}

/// A condition on `watch.id` matching the query `q`; `None` when `q` has no words.
pub fn matches(q: &str) -> Option<SimpleExpr> {
    matching_ids(q).map(|ids| Expr::col((watch::Entity, watch::Column::Id)).in_subquery(ids))
}

/// Most index entries a query word may match for them to be walked one by one in
/// [`ids_in_order`]; past it, their ranges are read at once.
pub const MAX_WALKED_WORDS: usize = 8;

/// The index entries a query word matches, as [`ids_in_order`] reads them.
pub enum WordEntries {
    /// The few entries it matches: each one's watches are in id order already.
    Words(Vec<String>),
    /// A start of many words (`a`, `se`…): their whole ranges.
    Range(String),
}

/// The index entries `prefix` matches, in one statement: each of its ranges is walked
/// from one entry to the next by a seek each (an entry has a row per watch, so reading
/// the range would read them all); past `MAX_WALKED_WORDS` entries, its ranges.
pub async fn entries_of(reader: &Reader, prefix: &str) -> AppResult<WordEntries> {
    let (sql, values) = walk(reader.backend(), prefix);
    let rows = reader.sql(&sql, values).await?;
    entries_from(prefix, &rows)
}

/// The statement of [`entries_of`], whose rows [`entries_from`] reads.
pub fn walk(backend: DbBackend, prefix: &str) -> (Cow<'static, str>, Vec<Value>) {
    let ranges = word_ranges(prefix);
    let sql = walk_sql(backend, ranges.len());
    let values = ranges
        .into_iter()
        .flat_map(|(start, end)| [start.into(), end.into()])
        .collect();
    (sql, values)
}

/// The entries of `prefix` from the rows of its [`walk`].
pub fn entries_from(prefix: &str, rows: &[Row]) -> AppResult<WordEntries> {
    if rows.len() > MAX_WALKED_WORDS {
        return Ok(WordEntries::Range(prefix.to_owned()));
    }
    let words = rows
        .iter()
        .map(|row| row.get::<String>("token"))
        .collect::<AppResult<_>>()?;
    Ok(WordEntries::Words(words))
}

/// Walks of up to this many ranges (a query word's letters) are written once.
const WRITTEN_WALKS: usize = 32;

/// The SQL of [`walk`] over `ranges` ranges, written once for most words.
fn walk_sql(backend: DbBackend, ranges: usize) -> Cow<'static, str> {
    static WRITTEN: [[OnceLock<String>; WRITTEN_WALKS]; 2] =
        [const { [const { OnceLock::new() }; WRITTEN_WALKS] }; 2];
    let written = &WRITTEN[usize::from(backend == DbBackend::Postgres)];
    match written.get(ranges) {
        Some(cell) => Cow::Borrowed(cell.get_or_init(|| write_walk_sql(backend, ranges))),
        None => Cow::Owned(write_walk_sql(backend, ranges)),
    }
}

/// The walk of [`entries_of`] over `ranges` ranges, given as parameters `(start, end)`
/// in turn: each range yields its entries up to one past `MAX_WALKED_WORDS`. Every
/// step is a scalar seek of the index, which SQLite and PostgreSQL both run as one.
fn write_walk_sql(backend: DbBackend, ranges: usize) -> String {
    let parameter = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    };
    let pairs: Vec<String> = (0..ranges)
        .map(|range| {
            let start = parameter(2 * range + 1);
            let end = parameter(2 * range + 2);
            format!("({start}, {end})")
        })
        .collect();
    let seek = |from: &str, end: &str| {
        format!(
            "CAST((SELECT t.token FROM watch_search_token t WHERE t.token {from} \
             AND t.token < {end} ORDER BY t.token LIMIT 1) AS TEXT)"
        )
    };
    format!(
        "WITH RECURSIVE ranges (start_at, end_before) AS (VALUES {pairs}), \
         walk (token, end_before, n) AS (\
         SELECT {first}, r.end_before, 0 FROM ranges r \
         UNION ALL \
         SELECT {next}, w.end_before, w.n + 1 FROM walk w \
         WHERE w.token IS NOT NULL AND w.n < {MAX_WALKED_WORDS}) \
         SELECT token FROM walk WHERE token IS NOT NULL ORDER BY token",
        pairs = pairs.join(", "),
        first = seek(">= r.start_at", "r.end_before"),
        next = seek("> w.token", "w.end_before"),
    )
}

/// Up to `count` ids of the watches with these entries, in id order (descending or not)
/// and past `after`, as `watch_id`: one statement. A word's entries are in that order in
/// the index, so each of a few words reads about `count` entries, however many watches
/// have it, and the words' ids are merged; a range is read whole, each time. `None` when
/// there are no entries.
pub fn ids_in_order(
    entries: &WordEntries,
    after: Option<i64>,
    descending: bool,
    count: u64,
) -> Option<SelectStatement> {
    let after = after.map(|id| Expr::val(id).into());
    match entries {
        WordEntries::Words(words) => {
            let word = |word: &String| Expr::val(word.as_str()).into();
            let (first, others) = words.split_first()?;
            let others = others.iter().map(word);
            Some(ids_of_words(word(first), others, after, descending, count))
        }
        WordEntries::Range(prefix) => {
            let mut range = entry_ids(entry_matches(prefix), after, descending, count);
            range.group_by_col(watch_search_token::Column::WatchId);
            Some(range)
        }
    }
}

/// The first `count` ids of the entries matching `matching`, in id order past `after`.
fn entry_ids(
    matching: SimpleExpr,
    after: Option<SimpleExpr>,
    descending: bool,
    count: u64,
) -> SelectStatement {
    let watch_id = || Expr::col(watch_search_token::Column::WatchId);
    let mut select = Query::select();
    select
        .column(watch_search_token::Column::WatchId)
        .from(watch_search_token::Entity)
        .and_where(matching)
        .order_by(watch_search_token::Column::WatchId, sql_order(descending))
        .limit(count);
    if let Some(after) = after {
        select.and_where(if descending {
            watch_id().lt(after)
        } else {
            watch_id().gt(after)
        });
    }
    select
}

/// [`ids_in_order`] of a few index words, given as any expressions: the words
/// themselves, or the stand-ins of a statement written once for many searches.
pub fn ids_of_words(
    first: SimpleExpr,
    others: impl IntoIterator<Item = SimpleExpr>,
    after: Option<SimpleExpr>,
    descending: bool,
    count: u64,
) -> SelectStatement {
    let token = || Expr::col(watch_search_token::Column::Token);
    let word_ids = |word| entry_ids(token().eq(word), after.clone(), descending, count);
    let mut others = others.into_iter().peekable();
    if others.peek().is_none() {
        return word_ids(first);
    }
    // each word's first `count` as a table of its own (a compound select takes no
    // limits of its parts), merged without repeats, the first `count` of them kept
    let part = |index: usize, word| {
        Query::select()
            .column(watch_search_token::Column::WatchId)
            .from_subquery(word_ids(word), Alias::new(format!("word{index}")))
            .to_owned()
    };
    let mut merged = part(0, first);
    for (index, word) in others.enumerate() {
        merged.union(UnionType::Distinct, part(index + 1, word));
    }
    Query::select()
        .column(watch_search_token::Column::WatchId)
        .from_subquery(merged, Alias::new("words"))
        .order_by(watch_search_token::Column::WatchId, sql_order(descending))
        .limit(count)
        .to_owned()
}

/// A condition on a `watch` row: it has a word starting with `prefix`.
pub fn has_word(prefix: &str) -> SimpleExpr {
    let entries = Query::select()
        .expr(Expr::val(1))
        .from(watch_search_token::Entity)
        .and_where(
            Expr::col((
                watch_search_token::Entity,
                watch_search_token::Column::WatchId,
            ))
            .equals((watch::Entity, watch::Column::Id)),
        )
        .and_where(entry_matches(prefix))
        .to_owned();
    Expr::exists(entries)
}

/// An index entry matches the query word `prefix`: it is in one of its ranges.
fn entry_matches(prefix: &str) -> SimpleExpr {
    let token = || Expr::col(watch_search_token::Column::Token);
    word_ranges(prefix)
        .into_iter()
        .map(|(start, end)| token().gte(start).and(token().lt(end)))
        .reduce(SimpleExpr::or)
        .unwrap_or_else(|| Expr::val(false).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_include_joined_codes() {
        let words = document_tokens(
            "vostok_amphibia",
            Some("2414-A"),
            Some("Восток"),
            ["Амфибия"],
        );
        for expected in [
            "vostok",
            "amphibia",
            "\u{1}vostok\u{1}amphibia",
            "2414",
            "a",
            "\u{1}2414\u{1}a",
            "восток",
            "амфибия",
        ] {
            assert!(
                words.contains(expected),
                "{expected} missing from {words:?}"
            );
        }
        assert!(!words.contains("2414a"), "{words:?}");
    }

    /// A query word matches a text when one of its words, or all its words written
    /// together, start with the query word.
    fn text_matches(text: &str, query_word: &str) -> bool {
        let words = tokens(text);
        words.iter().any(|word| word.starts_with(query_word))
            || words.concat().starts_with(query_word)
    }

    fn entries_match(entries: &BTreeSet<String>, query_word: &str) -> bool {
        word_ranges(query_word).iter().any(|(start, end)| {
            entries
                .iter()
                .any(|entry| entry.as_str() >= start.as_str() && entry.as_str() < end.as_str())
        })
    }

    #[test]
    fn ranges_find_a_text_by_any_start_of_its_words_or_of_them_joined() {
        let texts = [
            "Aquanaut 5167A-001",
            "Royal Oak 15400ST",
            "Сейко 5 Спорт",
            "R Oyal",
            "2414-A",
            "Seamaster",
        ];
        let queries = [
            "a",
            "aqua",
            "aquanaut",
            "aquanaut5",
            "aquanaut5167a0",
            "5167",
            "5167a001",
            "royal",
            "royaloak",
            "royaloak154",
            "oak15400st",
            "oak15",
            "сейко",
            "сейко5",
            "сейко5спорт",
            "5спо",
            "r",
            "ro",
            "roy",
            "2414a",
            "2414b",
            "sea",
            "seamasters",
            "x",
            "yal",
        ];
        for text in texts {
            let entries = document_tokens(text, None, None, []);
            for query in queries {
                assert_eq!(
                    entries_match(&entries, query),
                    text_matches(text, query),
                    "{query:?} in {text:?}: {entries:?}"
                );
            }
        }
    }

    #[test]
    fn a_start_of_the_first_word_reads_no_joined_entry() {
        let entries = document_tokens("Aquanaut 5167", None, None, []);
        let joined: BTreeSet<String> = entries
            .into_iter()
            .filter(|entry| entry.starts_with(JOINED))
            .collect();
        assert_eq!(joined.len(), 1);
        assert!(!entries_match(&joined, "aquanaut"), "{joined:?}");
        assert!(entries_match(&joined, "aquanaut5"), "{joined:?}");
    }

    #[test]
    fn prefix_ranges_cover_every_continuation() {
        let end = prefix_end("пол");
        for word in ["пол", "полет", "полюс", "полzzz"] {
            assert!(word >= "пол" && word < end.as_str(), "{word}");
        }
        assert!("пом" >= end.as_str());
    }
}
