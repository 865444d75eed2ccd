//! The search index keeps each text's joined words apart from its words. Before, "Aquanaut
//! 5167" was indexed as `aquanaut`, `5167` and `aquanaut5167`, so the word `aquanaut`
//! started as many index words as there were such codes, and a search for it read them
//! all. Now the joined entry is `\u{1}aquanaut\u{1}5167`: it sorts apart from the words,
//! and a query reads it only when the query word reaches past the first word.
//!
//! Every watch's entries are written again from its texts (folder, code, brand name,
//! aliases), a batch of watches at a time.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, TryGetable};
use std::collections::{BTreeMap, BTreeSet};

#[derive(DeriveMigrationName)]
pub struct Migration;

const MAX_WORD_CHARS: usize = 40;
const JOINED: char = '\u{1}';
const WATCHES_PER_BATCH: u64 = 500;
const ROWS_PER_INSERT: usize = 500;

#[derive(DeriveIden)]
enum Watch {
    Table,
    Id,
    Folder,
    Code,
    BrandId,
}

#[derive(DeriveIden)]
enum Brand {
    Table,
    Id,
    Name,
}

#[derive(DeriveIden)]
enum WatchAlias {
    #[sea_orm(iden = "alias")]
    Table,
    WatchId,
    Key,
}

#[derive(DeriveIden)]
enum WatchSearchToken {
    Table,
    Token,
    WatchId,
}

/// The entries' layout: joined words apart (`up`) or as one word (`down`).
#[derive(Clone, Copy)]
enum Layout {
    JoinedApart,
    JoinedAsWord,
}

/// The words of a text as the index keeps them at this migration: lower case, `ё` as
/// `е`, letters and digits only, at most 40 characters. Written out here so that the
/// migration keeps meaning what it meant when later versions change the rules.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('ё', "е")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(MAX_WORD_CHARS).collect())
        .collect()
}

fn entries(texts: &[String], layout: Layout) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for text in texts {
        let words = words(text);
        match layout {
            Layout::JoinedAsWord => {
                let joined: String = words.concat().chars().take(MAX_WORD_CHARS).collect();
                if !joined.is_empty() {
                    all.insert(joined);
                }
            }
            Layout::JoinedApart => {
                if let Some((first, others)) = words.split_first() {
                    let room = MAX_WORD_CHARS.saturating_sub(first.chars().count());
                    let others: String = others.concat().chars().take(room).collect();
                    if !others.is_empty() {
                        all.insert(format!("{JOINED}{first}{JOINED}{others}"));
                    }
                }
            }
        }
        all.extend(words);
    }
    all
}

fn column<T: TryGetable>(
    row: &sea_orm_migration::sea_orm::QueryResult,
    name: &str,
) -> Result<T, DbErr> {
    row.try_get("", name)
}

async fn rewrite(manager: &SchemaManager<'_>, layout: Layout) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let mut after = 0_i64;
    loop {
        // each watch's texts: folder, code, brand name, then its aliases
        let watches = db
            .query_all(
                backend.build(
                    Query::select()
                        .columns([
                            (Watch::Table, Watch::Id),
                            (Watch::Table, Watch::Folder),
                            (Watch::Table, Watch::Code),
                        ])
                        .expr_as(Expr::col((Brand::Table, Brand::Name)), Alias::new("brand"))
                        .from(Watch::Table)
                        .left_join(
                            Brand::Table,
                            Expr::col((Brand::Table, Brand::Id))
                                .equals((Watch::Table, Watch::BrandId)),
                        )
                        .and_where(Expr::col((Watch::Table, Watch::Id)).gt(after))
                        .order_by((Watch::Table, Watch::Id), Order::Asc)
                        .limit(WATCHES_PER_BATCH),
                ),
            )
            .await?;
        let Some(last) = watches.last() else {
            return Ok(());
        };
        let last: i64 = column(last, "id")?;
        let mut texts: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for row in &watches {
            let id: i64 = column(row, "id")?;
            let entry = texts.entry(id).or_default();
            entry.push(column(row, "folder")?);
            entry.extend(column::<Option<String>>(row, "code")?);
            entry.extend(column::<Option<String>>(row, "brand")?);
        }
        let aliases = db
            .query_all(
                backend.build(
                    Query::select()
                        .columns([WatchAlias::WatchId, WatchAlias::Key])
                        .from(WatchAlias::Table)
                        .and_where(Expr::col(WatchAlias::WatchId).gt(after))
                        .and_where(Expr::col(WatchAlias::WatchId).lte(last)),
                ),
            )
            .await?;
        for row in &aliases {
            let id: i64 = column(row, "watch_id")?;
            texts.entry(id).or_default().push(column(row, "key")?);
        }
        db.execute(
            backend.build(
                Query::delete()
                    .from_table(WatchSearchToken::Table)
                    .and_where(Expr::col(WatchSearchToken::WatchId).gt(after))
                    .and_where(Expr::col(WatchSearchToken::WatchId).lte(last)),
            ),
        )
        .await?;
        let rows: Vec<(String, i64)> = texts
            .iter()
            .flat_map(|(id, texts)| entries(texts, layout).into_iter().map(|e| (e, *id)))
            .collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut insert = Query::insert();
            insert
                .into_table(WatchSearchToken::Table)
                .columns([WatchSearchToken::Token, WatchSearchToken::WatchId]);
            for (token, id) in chunk {
                insert
                    .values([token.as_str().into(), (*id).into()])
                    .map_err(|err| DbErr::Custom(err.to_string()))?;
            }
            db.execute(backend.build(&insert)).await?;
        }
        after = last;
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rewrite(manager, Layout::JoinedApart).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rewrite(manager, Layout::JoinedAsWord).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_words_sort_apart_from_words() {
        let texts = vec!["Aquanaut 5167A-001".to_owned(), "Наутилус".to_owned()];
        let apart = entries(&texts, Layout::JoinedApart);
        assert!(apart.contains("aquanaut") && apart.contains("наутилус"));
        assert!(apart.contains("\u{1}aquanaut\u{1}5167a001"));
        assert!(!apart.contains("aquanaut5167a001"));
        let as_word = entries(&texts, Layout::JoinedAsWord);
        assert!(as_word.contains("aquanaut5167a001"));
        assert!(as_word.iter().all(|entry| !entry.contains(JOINED)));
    }
}
