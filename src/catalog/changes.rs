//! The changes a request body makes to a watch or a mechanism, field by field: a field
//! left out stays as it is, `null` clears it, and a list sent replaces the whole list
//! (`null` empties it). A direct edit and a draft take the same fields by the same rules;
//! only what each refuses afterwards differs (a live watch keeps its folder, a draft may
//! clear it).
//!
//! A body is declared with `watch_changes!` or `mechanism_changes!`, which add these
//! fields after the body's own (such as a draft's `target_id`). Sharing them as one
//! struct would need `#[serde(flatten)]`, and that cannot be combined with
//! `#[serde(deny_unknown_fields)]`: an unknown field must stay a 422.

/// Declares a request body with its own fields followed by the changeable fields of a
/// watch, unknown fields refused, and `apply`, which writes the fields sent over a
/// watch's values in their draft form.
macro_rules! watch_changes {
    ($($body:tt)*) => {
        $crate::catalog::changes::changes_request! {
            $($body)*
            values: $crate::catalog::drafts::model::WatchDraftValues,
            fields: {
                /// Unique; Latin letters, digits, `_`, `-`, `.`.
                folder: String,
                code: String,
                integrated_bracelet: bool,
                start_release: i32,
                end_release: i32,
                gender_id: i64,
                case_material_id: i64,
                mechanism_id: i64,
                factory_id: i64,
                brand_id: i64,
            },
            lists: {
                /// Replaces the aliases; repeats (in any case) and blanks are dropped.
                aliases: String,
            },
        }
    };
}

/// Declares a request body with its own fields followed by the changeable fields of a
/// mechanism, unknown fields refused, and `apply`, which writes the fields sent over a
/// mechanism's values in their draft form.
macro_rules! mechanism_changes {
    ($($body:tt)*) => {
        $crate::catalog::changes::changes_request! {
            $($body)*
            values: $crate::catalog::drafts::model::MechanismDraftValues,
            fields: {
                /// The calibre.
                name: String,
                /// Number of jewels, 0–200.
                stones: i32,
                start_release: i32,
                end_release: i32,
                mechanism_type_id: i64,
                factory_id: i64,
            },
            lists: {
                /// Replaces the functions.
                function_ids: i64,
            },
        }
    };
}

/// What both expand to. Each field is `Option<Option<T>>`, so that a field left out
/// (`None`) differs from one sent as `null` (`Some(None)`); a list is
/// `Option<Option<Vec<T>>>`, and `null` empties it.
macro_rules! changes_request {
    (
        $(#[$attr:meta])*
        pub struct $name:ident { $($own:tt)* }
        values: $values:ty,
        fields: { $($(#[$field_attr:meta])* $field:ident: $type:ty,)* },
        lists: { $($(#[$list_attr:meta])* $list:ident: $item:ty,)* },
    ) => {
        $(#[$attr])*
        #[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($own)*
            $(
                $(#[$field_attr])*
                #[serde(default, deserialize_with = "crate::extract::present")]
                #[schema(value_type = Option<$type>)]
                pub $field: Option<Option<$type>>,
            )*
            $(
                $(#[$list_attr])*
                #[serde(default, deserialize_with = "crate::extract::present")]
                #[schema(value_type = Option<Vec<$item>>)]
                pub $list: Option<Option<Vec<$item>>>,
            )*
        }

        impl $name {
            /// Writes the fields sent over `values`, `null` included; the body's own
            /// fields are not values and are left to the caller.
            pub fn apply(self, values: &mut $values) {
                $(
                    if let Some(value) = self.$field {
                        values.$field = value;
                    }
                )*
                $(
                    if let Some(list) = self.$list {
                        values.$list = list.unwrap_or_default();
                    }
                )*
            }
        }
    };
}

pub(crate) use {changes_request, mechanism_changes, watch_changes};
