//! One watch with everything it refers to, read in two queries: the watch row joined with
//! its references and mechanism, then its aliases, mechanism functions and photos together.

use sea_orm::sea_query::{Alias, Expr, JoinType, Query, SelectStatement, SimpleExpr, UnionType};
use sea_orm::{IdenStatic, Iterable};

use super::model::{ImageLinks, WatchDetail, WatchImages};
use crate::catalog::entity::{alias, mechanism, mechanism_function, watch, watch_image};
use crate::catalog::mechanisms::{MechanismDetail, sort_functions};
use crate::catalog::references::{Reference, ReferenceItem};
use crate::db::prepared::Prepared;
use crate::db::read::{Reader, Row};
use crate::error::AppResult;
use crate::files::entity as files;

/// Prefix of the mechanism's columns in the first query.
const MECHANISM: &str = "m_";
/// The mechanism's id in the first query.
const MECHANISM_ID: &str = "m_id";

/// Joins `kind` as `alias` on `alias.id = on` and selects its name as `name_as`.
fn join_name(select: &mut SelectStatement, kind: Reference, alias: &str, on: SimpleExpr) {
    let table = Alias::new(alias);
    select
        .expr_as(
            Expr::col((table.clone(), Alias::new("name"))),
            Alias::new(format!("{alias}_name")),
        )
        .join_as(
            JoinType::LeftJoin,
            Alias::new(kind.table()),
            table.clone(),
            Expr::col((table, Alias::new("id"))).eq(on),
        );
}

/// The reference `id` names, its name read from the column `name_column` (`{alias}_name`).
fn reference(row: &Row, name_column: &str, id: Option<i64>) -> AppResult<Option<ReferenceItem>> {
    let name: Option<String> = row.get(name_column)?;
    Ok(id.zip(name).map(|(id, name)| ReferenceItem { id, name }))
}

/// The watch row with the names of its references and its mechanism, in one query.
fn watch_query(id: i64) -> SelectStatement {
    let mut select = Query::select();
    select
        // named, not `*`: the statement's column names are kept once read
        .columns(watch::Column::iter().map(|column| (watch::Entity, column)))
        .from(watch::Entity)
        .and_where(Expr::col((watch::Entity, watch::Column::Id)).eq(id));
    let watch_column = |column: watch::Column| Expr::col((watch::Entity, column)).into();
    join_name(
        &mut select,
        Reference::Brand,
        "brand",
        watch_column(watch::Column::BrandId),
    );
    join_name(
        &mut select,
        Reference::Factory,
        "factory",
        watch_column(watch::Column::FactoryId),
    );
    join_name(
        &mut select,
        Reference::Gender,
        "gender",
        watch_column(watch::Column::GenderId),
    );
    join_name(
        &mut select,
        Reference::CaseMaterial,
        "case_material",
        watch_column(watch::Column::CaseMaterialId),
    );
    let m = Alias::new("m");
    for column in mechanism::Column::iter() {
        select.expr_as(
            Expr::col((m.clone(), column)),
            Alias::new(format!("{MECHANISM}{}", column.as_str())),
        );
    }
    select.join_as(
        JoinType::LeftJoin,
        mechanism::Entity,
        m.clone(),
        Expr::col((m.clone(), mechanism::Column::Id))
            .equals((watch::Entity, watch::Column::MechanismId)),
    );
    join_name(
        &mut select,
        Reference::MechanismType,
        "m_type",
        Expr::col((m.clone(), mechanism::Column::MechanismTypeId)).into(),
    );
    join_name(
        &mut select,
        Reference::Factory,
        "m_factory",
        Expr::col((m, mechanism::Column::FactoryId)).into(),
    );
    select.to_owned()
}

/// Aliases, the mechanism's functions and live photos as rows of
/// `(kind, item_id, text, side)`, in one query.
fn children_query(id: i64, mechanism_id: Option<i64>) -> SelectStatement {
    let null = || Expr::cust("NULL");
    let mut select = Query::select()
        .expr_as(Expr::val("alias"), Alias::new("kind"))
        .expr_as(Expr::col(alias::Column::Id), Alias::new("item_id"))
        .expr_as(Expr::col(alias::Column::Key), Alias::new("text"))
        .expr_as(null(), Alias::new("side"))
        .from(alias::Entity)
        .and_where(Expr::col(alias::Column::WatchId).eq(id))
        .to_owned();
    let function = Alias::new(Reference::Function.table());
    if let Some(mechanism_id) = mechanism_id {
        let functions = Query::select()
            .expr(Expr::val("function"))
            .expr(Expr::col((function.clone(), Alias::new("id"))))
            .expr(Expr::col((function.clone(), Alias::new("name"))))
            .expr(null())
            .from(mechanism_function::Entity)
            .join(
                JoinType::InnerJoin,
                function.clone(),
                Expr::col((function, Alias::new("id"))).equals((
                    mechanism_function::Entity,
                    mechanism_function::Column::FunctionId,
                )),
            )
            .and_where(
                Expr::col((
                    mechanism_function::Entity,
                    mechanism_function::Column::MechanismId,
                ))
                .eq(mechanism_id),
            )
            .to_owned();
        select.union(UnionType::All, functions);
    }
    let photos = Query::select()
        .expr(Expr::val("photo"))
        .expr(null())
        .expr(Expr::col((files::Entity, files::Column::Uid)))
        .expr(Expr::col((watch_image::Entity, watch_image::Column::Side)))
        .from(watch_image::Entity)
        .join(
            JoinType::InnerJoin,
            files::Entity,
            Expr::col((files::Entity, files::Column::FileId))
                .equals((watch_image::Entity, watch_image::Column::FileId)),
        )
        .and_where(Expr::col((watch_image::Entity, watch_image::Column::WatchId)).eq(id))
        .and_where(Expr::col((files::Entity, files::Column::Status)).eq(files::STATUS_ACTIVE))
        .to_owned();
    select.union(UnionType::All, photos);
    select
}

/// The two reads, with the watch id as parameter 0 and the mechanism id as 1.
static WATCH: Prepared = Prepared::new(|| watch_query(Prepared::parameter(0)));
static CHILDREN: Prepared =
    Prepared::new(|| children_query(Prepared::parameter(0), Some(Prepared::parameter(1))));
static CHILDREN_WITHOUT_MECHANISM: Prepared =
    Prepared::new(|| children_query(Prepared::parameter(0), None));

/// A watch with its references, mechanism (type, factory, functions), aliases and photos.
pub async fn load_detail(
    reader: &Reader,
    id: i64,
    public_url: &str,
) -> AppResult<Option<WatchDetail>> {
    let (rows, children) = reader
        .prepared_then(&WATCH, &[id.into()], |rows| {
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            Ok(Some(match row.get::<Option<i64>>(MECHANISM_ID)? {
                Some(mechanism_id) => (&CHILDREN, vec![id.into(), mechanism_id.into()]),
                None => (&CHILDREN_WITHOUT_MECHANISM, vec![id.into()]),
            }))
        })
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let watch = row.model::<watch::Entity>("")?;
    let mechanism_id: Option<i64> = row.get(MECHANISM_ID)?;
    let mechanism_row = match mechanism_id {
        Some(_) => Some(row.model::<mechanism::Entity>(MECHANISM)?),
        None => None,
    };

    let mut aliases: Vec<(i64, String)> = Vec::new();
    let mut functions = Vec::new();
    let mut images = WatchImages::default();
    for child in children {
        let kind: String = child.get("kind")?;
        let item_id: Option<i64> = child.get("item_id")?;
        let text: String = child.get("text")?;
        match (kind.as_str(), item_id) {
            ("alias", Some(id)) => aliases.push((id, text)),
            ("function", Some(id)) => functions.push(ReferenceItem { id, name: text }),
            ("photo", _) => {
                let side: String = child.get("side")?;
                images.set(&side, ImageLinks::new(public_url, &text));
            }
            _ => {}
        }
    }
    aliases.sort_unstable_by_key(|(id, _)| *id);
    sort_functions(&mut functions);

    let mechanism = match mechanism_row {
        Some(mechanism) => Some(MechanismDetail {
            mechanism_type: reference(&row, "m_type_name", mechanism.mechanism_type_id)?,
            factory: reference(&row, "m_factory_name", mechanism.factory_id)?,
            functions,
            id: mechanism.id,
            name: mechanism.name,
            stones: mechanism.stones,
            start_release: mechanism.start_release,
            end_release: mechanism.end_release,
            user_id: mechanism.user_id,
            created_at: mechanism.created_at,
            updated_at: mechanism.updated_at,
        }),
        None => None,
    };
    Ok(Some(WatchDetail {
        brand: reference(&row, "brand_name", watch.brand_id)?,
        factory: reference(&row, "factory_name", watch.factory_id)?,
        gender: reference(&row, "gender_name", watch.gender_id)?,
        case_material: reference(&row, "case_material_name", watch.case_material_id)?,
        mechanism,
        aliases: aliases.into_iter().map(|(_, key)| key).collect(),
        images,
        id: watch.id,
        folder: watch.folder,
        code: watch.code,
        integrated_bracelet: watch.integrated_bracelet,
        start_release: watch.start_release,
        end_release: watch.end_release,
        user_id: watch.user_id,
        created_at: watch.created_at,
        updated_at: watch.updated_at,
    }))
}
