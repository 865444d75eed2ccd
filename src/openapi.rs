//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vitrine",
        description = "Accounts, files, a moderated watch catalog and a messenger for collectors. \
                       Errors are `application/problem+json` with a stable `code`."
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, sign-in, tokens and sessions"),
        (name = "users", description = "Profiles"),
        (name = "admin", description = "User management"),
        (name = "files", description = "File storage: uploads, downloads, links, thumbnails"),
        (name = "catalog", description = "Reference tables, mechanisms, watches, photos and search"),
        (name = "collections", description = "Members' collections"),
        (name = "drafts", description = "Proposals of members and their moderation"),
        (name = "ops", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
