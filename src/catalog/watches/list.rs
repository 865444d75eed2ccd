//! `GET /watches`: filters, search, sorts and keyset pagination. A page is one query that
//! also joins the brand's name and the main photo, reading about `limit` rows whatever the
//! size of the catalog: the filter indexes end with `id`, the sort columns are indexed with
//! `id` (`watch_year_list_idx`, the unique `folder`, and `watch_brand_year_list_idx`
//! for a brand's watches by year); other mixes of filter and sort are read in sort order
//! up to a bound (see `Plan`).
//!
//! Watches without a start year come after the others in both directions. SQLite and
//! PostgreSQL place nulls differently, so such watches are read as a segment of their own
//! (`start_release IS NULL`, by id) after the dated ones, and the cursor says which
//! segment it points into.

use std::borrow::Cow;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::DbBackend;
use sea_orm::sea_query::{
    Alias, Condition, Expr, Func, JoinType, Order, Query, SelectStatement, SimpleExpr, Value,
};
use serde::{Deserialize, Serialize};

use super::model::{WatchListQuery, WatchSummary};
use crate::catalog::entity::{mechanism, watch, watch_image, watch_search_token};
use crate::catalog::references::ReferenceItem;
use crate::catalog::search;
use crate::db::prepared::{Prepared, with_call_values};
use crate::db::read::{Reader, Row, written_for};
use crate::error::{AppError, AppResult, FieldError};
use crate::files::entity as files;
use crate::pagination::{DEFAULT_LIMIT, Page, checked_limit, sql_order};

/// Longest search query accepted.
pub const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Id,
    StartRelease,
    Folder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    pub fn parse(value: Option<&str>) -> AppResult<Self> {
        let value = value.unwrap_or("id");
        let (descending, name) = match value.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, value),
        };
        let key = match name {
            "id" => SortKey::Id,
            "start_release" => SortKey::StartRelease,
            "folder" => SortKey::Folder,
            _ => {
                return Err(AppError::invalid(
                    "sort",
                    "must be one of id, -id, start_release, -start_release, folder, -folder",
                ));
            }
        };
        Ok(Self { key, descending })
    }

    fn name(self) -> &'static str {
        match (self.key, self.descending) {
            (SortKey::Id, false) => "id",
            (SortKey::Id, true) => "-id",
            (SortKey::StartRelease, false) => "start_release",
            (SortKey::StartRelease, true) => "-start_release",
            (SortKey::Folder, false) => "folder",
            (SortKey::Folder, true) => "-folder",
        }
    }

    fn order(self) -> Order {
        sql_order(self.descending)
    }
}

/// Where the previous page ended: its sort, the sort key of its last watch and that
/// watch's id. `year: None` under a start-year sort points into the undated segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "s")]
    sort: String,
    #[serde(rename = "y", default, skip_serializing_if = "Option::is_none")]
    year: Option<i32>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    folder: Option<String>,
    #[serde(rename = "i")]
    id: i64,
}

impl Cursor {
    fn after(sort: Sort, row: &WatchSummary) -> Self {
        Cursor {
            sort: sort.name().to_owned(),
            year: match sort.key {
                SortKey::StartRelease => row.start_release,
                _ => None,
            },
            folder: match sort.key {
                SortKey::Folder => Some(row.folder.clone()),
                _ => None,
            },
            id: row.id,
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str, sort: Sort) -> AppResult<Self> {
        let cursor: Cursor = URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| AppError::invalid("cursor", "is not a cursor from this API"))?;
        if cursor.sort != sort.name() {
            return Err(AppError::invalid(
                "cursor",
                "belongs to a list of another sort",
            ));
        }
        if sort.key == SortKey::Folder && cursor.folder.is_none() {
            return Err(AppError::invalid("cursor", "is not a cursor from this API"));
        }
        Ok(cursor)
    }
}

/// The checked parameters of a list request.
#[derive(Debug, Clone)]
pub struct ListRequest {
    filters: Filters,
    sort: Sort,
    limit: u64,
    cursor: Option<Cursor>,
    plan: Plan,
    /// The words of `q`, as searched.
    words: Vec<String>,
    /// A search with no word in it (`q=%`): nothing can match.
    matches_nothing: bool,
    /// The request in one canonical form: requests that differ only in spelling (order
    /// of parameters, case or punctuation of the search, defaults written out) share it.
    key: String,
}

impl ListRequest {
    pub fn parse(query: &WatchListQuery) -> AppResult<Self> {
        let sort = Sort::parse(query.sort.as_deref())?;
        let limit = checked_limit(query.limit, DEFAULT_LIMIT)?;
        let cursor = query
            .cursor
            .as_deref()
            .map(|text| Cursor::decode(text, sort))
            .transpose()?;
        let mut errors = Vec::new();
        if let (Some(from), Some(to)) = (query.year_from, query.year_to)
            && from > to
        {
            errors.push(FieldError::new("year_to", "must not be before year_from"));
        }
        if let Some(q) = &query.q
            && q.chars().count() > MAX_QUERY_CHARS
        {
            errors.push(FieldError::new(
                "q",
                format!("must be at most {MAX_QUERY_CHARS} characters long"),
            ));
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        let plan = match sort.key {
            SortKey::Id => Plan::Direct,
            SortKey::StartRelease if query.brand_id.is_some() => Plan::Direct,
            _ => Plan::Bounded,
        };
        let words = query
            .q
            .as_deref()
            .filter(|q| !q.trim().is_empty())
            .map(crate::words::query_words);
        let matches_nothing = words.as_ref().is_some_and(Vec::is_empty);
        let key = canonical_key(query, words.as_deref(), sort, limit, cursor.as_ref());
        Ok(Self {
            filters: filters(query, sort.key),
            sort,
            limit,
            cursor,
            plan,
            words: words.unwrap_or_default(),
            matches_nothing,
            key,
        })
    }

    /// The request's canonical form, a key for cached answers.
    pub fn key(&self) -> &str {
        &self.key
    }
}

fn canonical_key(
    query: &WatchListQuery,
    words: Option<&[String]>,
    sort: Sort,
    limit: u64,
    cursor: Option<&Cursor>,
) -> String {
    use std::fmt::Write;
    let mut key = format!("watches?sort={}&limit={limit}", sort.name());
    let numbers = [
        ("brand_id", query.brand_id),
        ("factory_id", query.factory_id),
        ("gender_id", query.gender_id),
        ("case_material_id", query.case_material_id),
        ("mechanism_type_id", query.mechanism_type_id),
        ("year_from", query.year_from.map(i64::from)),
        ("year_to", query.year_to.map(i64::from)),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            let _ = write!(key, "&{name}={value}");
        }
    }
    if let Some(bracelet) = query.integrated_bracelet {
        let _ = write!(key, "&integrated_bracelet={bracelet}");
    }
    if let Some(words) = words {
        let _ = write!(key, "&q={}", words.join(" "));
    }
    if let Some(cursor) = cursor {
        let _ = write!(key, "&cursor={}", cursor.encode());
    }
    key
}

fn col(column: watch::Column) -> Expr {
    Expr::col((watch::Entity, column))
}

/// The filters of a request, in two forms with the same meaning: `indexed` lets the
/// database read matches through the filter indexes; `checked` keeps it from doing so
/// (`brand_id + 0 = 3`), so that it reads rows in the sort order and checks each.
#[derive(Debug, Clone, Default)]
struct Filters {
    indexed: Vec<SimpleExpr>,
    checked: Vec<SimpleExpr>,
    /// The ids matching `q`, apart from `indexed`: read in id order they are joined to
    /// the watches directly (see `direct_select`).
    search: Option<SelectStatement>,
}

impl Filters {
    fn both(&mut self, condition: SimpleExpr) {
        self.indexed.push(condition.clone());
        self.checked.push(condition);
    }

    fn is_empty(&self) -> bool {
        self.indexed.is_empty() && self.search.is_none()
    }
}

fn filters(query: &WatchListQuery, sort: SortKey) -> Filters {
    let mut filters = Filters::default();
    for (column, value) in [
        (watch::Column::BrandId, query.brand_id),
        (watch::Column::FactoryId, query.factory_id),
        (watch::Column::GenderId, query.gender_id),
        (watch::Column::CaseMaterialId, query.case_material_id),
    ] {
        if let Some(value) = value {
            filters.indexed.push(col(column).eq(value));
            filters
                .checked
                .push(Expr::expr(col(column).add(0)).eq(value));
        }
    }
    if let Some(type_id) = query.mechanism_type_id {
        // checked row by row: as `IN (…)` the database would read every watch of every
        // such mechanism and sort them
        let mechanisms = Query::select()
            .expr(Expr::val(1))
            .from(mechanism::Entity)
            .and_where(
                Expr::col((mechanism::Entity, mechanism::Column::Id))
                    .equals((watch::Entity, watch::Column::MechanismId)),
            )
            .and_where(
                Expr::col((mechanism::Entity, mechanism::Column::MechanismTypeId)).eq(type_id),
            )
            .to_owned();
        filters.both(Expr::exists(mechanisms));
    }
    if let Some(bracelet) = query.integrated_bracelet {
        filters.both(col(watch::Column::IntegratedBracelet).eq(bracelet));
    }
    // the release years [start, end] overlap [year_from, year_to]; a missing end is the
    // start year and a missing start the end year
    if let Some(from) = query.year_from {
        filters.both(
            Expr::expr(Func::coalesce([
                col(watch::Column::EndRelease).into(),
                col(watch::Column::StartRelease).into(),
            ]))
            .gte(from),
        );
    }
    if let Some(to) = query.year_to {
        filters.both(
            Expr::expr(Func::coalesce([
                col(watch::Column::StartRelease).into(),
                col(watch::Column::EndRelease).into(),
            ]))
            .lte(to),
        );
    }
    // a search in id order reads the index itself (`search_in_id_order`): building these
    // statements only to drop them took a quarter of its CPU on PostgreSQL
    if sort != SortKey::Id
        && let Some(ids) = query.q.as_deref().and_then(search::matching_ids)
    {
        // the words' watches are gathered once per query and each row is looked up
        let check = Query::select()
            .expr(Expr::val(1))
            .and_where(col(watch::Column::Id).in_subquery(ids.clone()))
            .to_owned();
        filters.checked.push(Expr::exists(check));
        filters.search = Some(ids);
    }
    filters
}

/// Rows of `watch` in one order: the segment (dated or undated watches) and the part of
/// it after the cursor. The filters are applied to these rows.
struct Scan {
    bounds: Vec<SimpleExpr>,
    order: Vec<(watch::Column, Order)>,
}

impl Scan {
    fn order_by(&self, select: &mut SelectStatement) {
        for (column, order) in &self.order {
            select.order_by((watch::Entity, *column), order.clone());
        }
    }
}

/// How a page is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// One query; the database picks the index. Right when an index serves both the
    /// filter and the order: any equality filter with `id` order (the filter indexes end
    /// with `id`), a brand with start-year order, or no filter at all.
    Direct,
    /// Filters that no index of the order serves (a gender sorted by folder, a search
    /// sorted by year...). Reading the matches through the filter's index and sorting
    /// them all costs as much as there are matches; reading rows in order and checking
    /// each costs as much as there are non-matches before a page is full. So rows are
    /// read in order up to the `SCAN_ROWS`-th (found on the order's index alone); when
    /// those hold no full page, the filter is sparse and its index reads the page.
    Bounded,
}

/// Rows read in order before a sparse filter is read through its own index instead.
const SCAN_ROWS: u64 = 2000;

/// The watch columns a page shows.
const PAGE_COLUMNS: [watch::Column; 7] = [
    watch::Column::Id,
    watch::Column::Folder,
    watch::Column::Code,
    watch::Column::BrandId,
    watch::Column::StartRelease,
    watch::Column::EndRelease,
    watch::Column::IntegratedBracelet,
];

/// The scan's rows that pass the filters and match the search `ids`, in order, with the
/// brand's name and the main photo's uid. The page is chosen first and only its rows are
/// joined, so the joins cost `limit` lookups however many watches match.
fn direct_select(
    backend: DbBackend,
    conditions: &[SimpleExpr],
    search_ids: Option<&SelectStatement>,
    scan: &Scan,
    limit: u64,
) -> SelectStatement {
    let mut rows = Query::select();
    rows.columns(PAGE_COLUMNS.map(|column| (watch::Entity, column)))
        .column((watch::Entity, watch::Title));
    let by_id = scan
        .order
        .first()
        .is_some_and(|(column, _)| matches!(column, watch::Column::Id));
    match search_ids {
        // In id order PostgreSQL is given the matching ids to sort first, so it looks up
        // only a page of watches; with `id IN (…)` it looks up every match before sorting.
        // SQLite does the opposite: it reads `IN (…)` in id order and would materialise
        // and sort the joined form.
        Some(ids) if by_id && backend == DbBackend::Postgres => {
            let matched = Alias::new("matched");
            rows.from_subquery(ids.clone(), matched.clone()).join(
                JoinType::InnerJoin,
                watch::Entity,
                Expr::col((watch::Entity, watch::Column::Id))
                    .equals((matched, watch_search_token::Column::WatchId)),
            );
        }
        Some(ids) => {
            rows.from(watch::Entity)
                .and_where(col(watch::Column::Id).in_subquery(ids.clone()));
        }
        None => {
            rows.from(watch::Entity);
        }
    }
    for condition in conditions.iter().chain(&scan.bounds) {
        rows.and_where(condition.clone());
    }
    scan.order_by(&mut rows);
    rows.limit(limit);

    let page = Alias::new("page");
    let brand = Alias::new("brand");
    let mut select = Query::select();
    select
        .columns(PAGE_COLUMNS.map(|column| (page.clone(), column)))
        .expr_as(
            Expr::col((brand.clone(), Alias::new("name"))),
            Alias::new("brand_name"),
        )
        .expr_as(
            Expr::col((files::Entity, files::Column::Uid)),
            Alias::new("main_uid"),
        )
        .column((page.clone(), watch::Title))
        .from_subquery(rows, page.clone())
        .join(
            JoinType::LeftJoin,
            brand.clone(),
            Expr::col((brand, Alias::new("id"))).equals((page.clone(), watch::Column::BrandId)),
        )
        .join(
            JoinType::LeftJoin,
            watch_image::Entity,
            Condition::all()
                .add(
                    Expr::col((watch_image::Entity, watch_image::Column::WatchId))
                        .equals((page.clone(), watch::Column::Id)),
                )
                .add(Expr::col((watch_image::Entity, watch_image::Column::Side)).eq("main")),
        )
        .join(
            JoinType::LeftJoin,
            files::Entity,
            Condition::all()
                .add(
                    Expr::col((files::Entity, files::Column::FileId))
                        .equals((watch_image::Entity, watch_image::Column::FileId)),
                )
                .add(Expr::col((files::Entity, files::Column::Status)).eq(files::STATUS_ACTIVE)),
        );
    for (column, order) in &scan.order {
        select.order_by((page.clone(), *column), order.clone());
    }
    select
}

/// A bound keeping the scan to its first `SCAN_ROWS` rows, or `None` when it has no more.
async fn scan_edge(reader: &Reader, scan: &Scan) -> AppResult<Option<SimpleExpr>> {
    let mut probe = Query::select();
    for (column, _) in &scan.order {
        probe.column((watch::Entity, *column));
    }
    probe.from(watch::Entity);
    for bound in &scan.bounds {
        probe.and_where(bound.clone());
    }
    scan.order_by(&mut probe);
    probe.limit(1).offset(SCAN_ROWS - 1);
    let Some(row) = reader.one(&probe).await? else {
        return Ok(None);
    };
    let mut keys: Vec<SimpleExpr> = Vec::new();
    let mut values: Vec<SimpleExpr> = Vec::new();
    for (column, _) in &scan.order {
        let value: SimpleExpr = match column {
            watch::Column::Folder => row.get::<String>("folder")?.into(),
            watch::Column::StartRelease => row.get::<Option<i32>>("start_release")?.into(),
            _ => row.get::<i64>("id")?.into(),
        };
        keys.push(col(*column).into());
        values.push(value);
    }
    let (keys, values) = (Expr::tuple(keys), Expr::tuple(values));
    let descending = scan
        .order
        .first()
        .is_some_and(|(_, order)| *order == Order::Desc);
    Ok(Some(if descending {
        keys.gte(values)
    } else {
        keys.lte(values)
    }))
}

async fn fetch(
    reader: &Reader,
    select: &SelectStatement,
    public_url: &str,
) -> AppResult<Vec<WatchSummary>> {
    summaries(reader.all(select).await?, public_url)
}

/// The page's watches from the rows of a [`direct_select`].
fn summaries(rows: Vec<Row>, public_url: &str) -> AppResult<Vec<WatchSummary>> {
    rows.into_iter()
        .map(|row| {
            let brand_id: Option<i64> = row.get("brand_id")?;
            let brand_name: Option<String> = row.get("brand_name")?;
            let main_uid: Option<String> = row.get("main_uid")?;
            Ok(WatchSummary {
                id: row.get("id")?,
                title: row.get("title")?,
                folder: row.get("folder")?,
                code: row.get("code")?,
                brand: brand_id
                    .zip(brand_name)
                    .map(|(id, name)| ReferenceItem { id, name }),
                start_release: row.get("start_release")?,
                end_release: row.get("end_release")?,
                integrated_bracelet: row.get("integrated_bracelet")?,
                main_image_url: main_uid.map(|uid| format!("{public_url}/api/v1/files/{uid}")),
            })
        })
        .collect()
}

/// Up to `limit` rows of the scan that pass the filters.
async fn read_scan(
    reader: &Reader,
    request: &ListRequest,
    scan: &Scan,
    limit: u64,
    public_url: &str,
) -> AppResult<Vec<WatchSummary>> {
    let filters = &request.filters;
    let backend = reader.backend();
    let through_indexes = || {
        direct_select(
            backend,
            &filters.indexed,
            filters.search.as_ref(),
            scan,
            limit,
        )
    };
    if request.plan == Plan::Direct || filters.is_empty() {
        return fetch(reader, &through_indexes(), public_url).await;
    }
    let edge = scan_edge(reader, scan).await?;
    let mut head = Scan {
        bounds: scan.bounds.clone(),
        order: scan.order.clone(),
    };
    head.bounds.extend(edge.clone());
    let rows = fetch(
        reader,
        &direct_select(backend, &filters.checked, None, &head, limit),
        public_url,
    )
    .await?;
    if rows.len() as u64 >= limit || edge.is_none() {
        return Ok(rows);
    }
    fetch(reader, &through_indexes(), public_url).await
}

/// The first batch of a search read in id order holds about a page of ids; each next one
/// four times more, up to this many, so a sparse match costs a few queries.
const FIRST_BATCH: u64 = 64;
const MAX_BATCH: u64 = 4096;

/// A search in id order: the entries of the first word are read in that order. With no
/// other word or filter, the page is the first of them: one statement reads it. Else a
/// batch at a time is read, and only each batch's watches are checked against the other
/// words and filters. A page then costs about its own rows, not every watch the word
/// matches (unless the word starts many indexed words). `None` when this is not such a
/// search.
async fn search_in_id_order(
    reader: &Reader,
    request: &ListRequest,
    wanted: u64,
    public_url: &str,
) -> AppResult<Option<Vec<WatchSummary>>> {
    let Some((first, others)) = request.words.split_first() else {
        return Ok(None);
    };
    let sort = request.sort;
    let mut conditions = request.filters.indexed.clone();
    conditions.extend(others.iter().map(|word| search::has_word(word)));
    let mut after = request.cursor.as_ref().map(|cursor| cursor.id);
    if conditions.is_empty() {
        let backend = reader.backend();
        let (walk, values) = search::walk(backend, first);
        let (_, rows) = reader
            .sql_then(&walk, values, |walked| {
                let entries = search::entries_from(first, walked)?;
                search_page(backend, &entries, after, sort.descending, wanted)
            })
            .await?;
        return Ok(Some(summaries(rows, public_url)?));
    }
    let in_id_order = Scan {
        bounds: Vec::new(),
        order: vec![(watch::Column::Id, sort.order())],
    };
    let entries = search::entries_of(reader, first).await?;
    let mut batch = FIRST_BATCH;
    let mut rows = Vec::new();
    while (rows.len() as u64) < wanted {
        let Some(ids) = search::ids_in_order(&entries, after, sort.descending, batch) else {
            break;
        };
        let ids: Vec<i64> = reader.column(&ids, "watch_id").await?;
        let Some(&last) = ids.last() else { break };
        let exhausted = (ids.len() as u64) < batch;
        let scan = Scan {
            bounds: vec![col(watch::Column::Id).is_in(ids)],
            order: in_id_order.order.clone(),
        };
        let select = direct_select(
            reader.backend(),
            &conditions,
            None,
            &scan,
            wanted - rows.len() as u64,
        );
        rows.extend(fetch(reader, &select, public_url).await?);
        if exhausted {
            break;
        }
        after = Some(last);
        batch = (batch * 4).min(MAX_BATCH);
    }
    Ok(Some(rows))
}

/// The page of a search in id order with no other words or filters: the first `wanted`
/// watches of the index `entries`, past `after`, written for `backend`. `None` when there
/// are no entries.
fn search_page(
    backend: DbBackend,
    entries: &search::WordEntries,
    after: Option<i64>,
    descending: bool,
    wanted: u64,
) -> AppResult<Option<(Cow<'static, str>, Vec<Value>)>> {
    if let search::WordEntries::Words(words) = entries
        && let Some(written) =
            WrittenSearchPage::of(backend, words.len(), after.is_some(), descending)
    {
        let mut call: Vec<Value> = words.iter().map(|word| word.as_str().into()).collect();
        call.extend(after.map(Value::from));
        return written.fill(&call, wanted).map(Some);
    }
    let Some(ids) = search::ids_in_order(entries, after, descending, wanted) else {
        return Ok(None);
    };
    let (sql, values) = written_for(backend, &id_order_page(backend, &ids, descending, wanted));
    Ok(Some((Cow::Owned(sql), values)))
}

/// The page read over the ids `ids` selects, in id order.
fn id_order_page(
    backend: DbBackend,
    ids: &SelectStatement,
    descending: bool,
    wanted: u64,
) -> SelectStatement {
    let in_id_order = Scan {
        bounds: Vec::new(),
        order: vec![(watch::Column::Id, sql_order(descending))],
    };
    direct_select(backend, &[], Some(ids), &in_id_order, wanted)
}

/// A page size that no request asks for, standing for the request's in a written page.
const PAGE_SIZE_STAND_IN: u64 = 987_654_321;

/// The statement of a [`search_page`] over a few index words, written once per shape
/// (backend, number of words, a cursor or not, direction) rather than built and written
/// by sea-query for every search: that was a quarter of a PostgreSQL search's CPU.
struct WrittenSearchPage {
    /// The text around the places of the page size: PostgreSQL's limits are written into
    /// the text (see `postgres_read`), SQLite's are values.
    pieces: Vec<String>,
    /// With [`Prepared::parameter`] stand-ins: the words, then the cursor's id.
    values: Vec<Value>,
}

impl WrittenSearchPage {
    fn of(
        backend: DbBackend,
        words: usize,
        has_after: bool,
        descending: bool,
    ) -> Option<&'static Self> {
        type Shapes = [[[OnceLock<WrittenSearchPage>; search::MAX_WALKED_WORDS]; 2]; 2];
        static WRITTEN: [Shapes; 2] = [const {
            [const { [const { [const { OnceLock::new() }; search::MAX_WALKED_WORDS] }; 2] }; 2]
        }; 2];
        let cell = WRITTEN[usize::from(backend == DbBackend::Postgres)][usize::from(has_after)]
            [usize::from(descending)]
        .get(words.checked_sub(1)?)?;
        Some(cell.get_or_init(|| Self::write(backend, words, has_after, descending)))
    }

    fn write(backend: DbBackend, words: usize, has_after: bool, descending: bool) -> Self {
        let stand_in = |n: usize| Expr::val(Prepared::parameter(n as u8)).into();
        let after = has_after.then(|| stand_in(words));
        let ids = search::ids_of_words(
            stand_in(0),
            (1..words).map(stand_in),
            after,
            descending,
            PAGE_SIZE_STAND_IN,
        );
        let page = id_order_page(backend, &ids, descending, PAGE_SIZE_STAND_IN);
        let (sql, values) = written_for(backend, &page);
        Self {
            pieces: sql
                .split(&PAGE_SIZE_STAND_IN.to_string())
                .map(str::to_owned)
                .collect(),
            values,
        }
    }

    /// The text and values of a page with these words and cursor (`call`) and size.
    fn fill(&self, call: &[Value], size: u64) -> AppResult<(Cow<'static, str>, Vec<Value>)> {
        let sql = self.pieces.join(&size.to_string());
        let values = with_call_values(&self.values, call)?
            .into_iter()
            .map(|value| match value {
                Value::BigUnsigned(Some(PAGE_SIZE_STAND_IN)) => size.into(),
                other => other,
            })
            .collect();
        Ok((Cow::Owned(sql), values))
    }
}

/// `(a, id) > (x, y)` or `<`, as the sort's direction says.
fn after_pair(
    sort: Sort,
    column: watch::Column,
    key: impl Into<SimpleExpr>,
    id: i64,
) -> SimpleExpr {
    let left = Expr::tuple([col(column).into(), col(watch::Column::Id).into()]);
    let right = Expr::tuple([key.into(), Expr::val(id).into()]);
    if sort.descending {
        left.lt(right)
    } else {
        left.gt(right)
    }
}

fn after_id(sort: Sort, id: i64) -> SimpleExpr {
    if sort.descending {
        col(watch::Column::Id).lt(id)
    } else {
        col(watch::Column::Id).gt(id)
    }
}

/// One page of watches and the cursor of the next one.
pub async fn list(
    reader: &Reader,
    request: &ListRequest,
    public_url: &str,
) -> AppResult<Page<WatchSummary>> {
    if request.matches_nothing {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let sort = request.sort;
    let cursor = request.cursor.as_ref();
    let wanted = request.limit + 1;
    let order = sort.order();
    let by_id = (watch::Column::Id, order.clone());
    let rows = match sort.key {
        SortKey::Id => match search_in_id_order(reader, request, wanted, public_url).await? {
            Some(rows) => rows,
            None => {
                let scan = Scan {
                    bounds: cursor.map(|c| after_id(sort, c.id)).into_iter().collect(),
                    order: vec![by_id],
                };
                read_scan(reader, request, &scan, wanted, public_url).await?
            }
        },
        SortKey::Folder => {
            let bounds = match cursor {
                Some(Cursor {
                    folder: Some(folder),
                    id,
                    ..
                }) => vec![after_pair(sort, watch::Column::Folder, folder.clone(), *id)],
                _ => Vec::new(),
            };
            let scan = Scan {
                bounds,
                order: vec![(watch::Column::Folder, order.clone()), by_id],
            };
            read_scan(reader, request, &scan, wanted, public_url).await?
        }
        SortKey::StartRelease => {
            let in_undated = cursor.is_some_and(|c| c.year.is_none());
            let mut rows = Vec::new();
            if !in_undated {
                let mut bounds = vec![col(watch::Column::StartRelease).is_not_null()];
                if let Some(Cursor {
                    year: Some(year),
                    id,
                    ..
                }) = cursor
                {
                    bounds.push(after_pair(sort, watch::Column::StartRelease, *year, *id));
                }
                let scan = Scan {
                    bounds,
                    order: vec![(watch::Column::StartRelease, order.clone()), by_id.clone()],
                };
                rows = read_scan(reader, request, &scan, wanted, public_url).await?;
            }
            if (rows.len() as u64) < wanted {
                let mut bounds = vec![col(watch::Column::StartRelease).is_null()];
                if let Some(cursor) = cursor.filter(|_| in_undated) {
                    bounds.push(after_id(sort, cursor.id));
                }
                let scan = Scan {
                    bounds,
                    order: vec![by_id],
                };
                let rest = wanted - rows.len() as u64;
                rows.extend(read_scan(reader, request, &scan, rest, public_url).await?);
            }
            rows
        }
    };
    Ok(page(rows, request.limit, sort))
}

fn page(mut rows: Vec<WatchSummary>, limit: u64, sort: Sort) -> Page<WatchSummary> {
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if has_more {
        rows.last().map(|last| Cursor::after(sort, last).encode())
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_are_named() {
        for name in [
            "id",
            "-id",
            "start_release",
            "-start_release",
            "folder",
            "-folder",
        ] {
            assert_eq!(Sort::parse(Some(name)).unwrap().name(), name);
        }
        assert_eq!(Sort::parse(None).unwrap().key, SortKey::Id);
        for bad in ["", "-", "name", "--id", "ID"] {
            assert!(Sort::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    /// A page written once per shape reads exactly what sea-query builds for the request.
    #[test]
    fn written_search_pages_are_the_built_ones() {
        let words: Vec<String> = [
            "aquanaut",
            "сим'астер",
            "987654321",
            "a b",
            "x",
            "y",
            "z",
            "w",
        ]
        .map(String::from)
        .to_vec();
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for count in 1..=search::MAX_WALKED_WORDS {
                let entries = search::WordEntries::Words(words[..count].to_vec());
                for (after, descending, wanted) in [
                    (None, false, 31),
                    (Some(42), false, 2),
                    (None, true, 101),
                    (Some(7), true, 21),
                ] {
                    let written = search_page(backend, &entries, after, descending, wanted)
                        .unwrap()
                        .unwrap();
                    let ids = search::ids_in_order(&entries, after, descending, wanted).unwrap();
                    let built =
                        written_for(backend, &id_order_page(backend, &ids, descending, wanted));
                    assert_eq!((written.0.into_owned(), written.1), built);
                }
            }
        }
        let none = search::WordEntries::Words(Vec::new());
        assert!(
            search_page(DbBackend::Postgres, &none, None, false, 31)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_sort() {
        let sort = Sort::parse(Some("-start_release")).unwrap();
        let cursor = Cursor {
            sort: sort.name().into(),
            year: None,
            folder: None,
            id: 7,
        };
        assert_eq!(Cursor::decode(&cursor.encode(), sort).unwrap(), cursor);
        assert!(Cursor::decode(&cursor.encode(), Sort::parse(None).unwrap()).is_err());
        assert!(Cursor::decode("garbage!", sort).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("{}"), sort).is_err());
    }
}
