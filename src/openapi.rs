//! The OpenAPI document, generated from the handlers' annotations, with the error answers
//! every operation shares documented once.

use utoipa::openapi::content::Content;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, PROBLEM_JSON, Problem};
use crate::files::model::Visibility;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vitrine",
        description = "Accounts, files, a moderated watch catalog and a messenger for collectors. \
                       Errors are `application/problem+json` with a stable `code`."
    ),
    // schemas only query parameters refer to, which the routers do not collect
    components(schemas(Problem, FieldError, Visibility)),
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

/// An error answer documented once under `components/responses`.
struct SharedError {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    /// The operations that can give it whatever their handler does; the others that can
    /// give it say so in their own annotation.
    sent_by: fn(&Operation) -> bool,
    /// A header the answer carries, with its type.
    header: Option<(&'static str, Type)>,
}

const SHARED_ERRORS: &[SharedError] = &[
    SharedError {
        status: "400",
        name: "BadRequest",
        description: "malformed path, query or body",
        sent_by: |operation| has_parameters(operation) || takes_body(operation),
        header: None,
    },
    SharedError {
        status: "401",
        name: "Unauthorized",
        description: "the access token is missing, invalid, expired or revoked",
        sent_by: accepts_token,
        header: Some(("WWW-Authenticate", Type::String)),
    },
    SharedError {
        status: "403",
        name: "Forbidden",
        description: "the caller may not do this",
        sent_by: |_| false,
        header: None,
    },
    SharedError {
        status: "404",
        name: "NotFound",
        description: "nothing has this id",
        sent_by: |operation| has_parameter_in(operation, ParameterIn::Path),
        header: None,
    },
    SharedError {
        status: "409",
        name: "Conflict",
        description: "the request conflicts with the current state",
        sent_by: |_| false,
        header: None,
    },
    SharedError {
        status: "413",
        name: "PayloadTooLarge",
        description: "the body is larger than allowed",
        sent_by: takes_body,
        header: None,
    },
    SharedError {
        status: "415",
        name: "UnsupportedMediaType",
        description: "the body's content type is not accepted",
        sent_by: takes_body,
        header: None,
    },
    SharedError {
        status: "422",
        name: "ValidationFailed",
        description: "invalid fields, listed in `errors`",
        sent_by: |operation| {
            takes_body(operation) || has_parameter_in(operation, ParameterIn::Query)
        },
        header: None,
    },
    SharedError {
        status: "429",
        name: "RateLimited",
        description: "too many attempts; retry after `Retry-After` seconds",
        sent_by: |_| false,
        header: Some(("Retry-After", Type::Integer)),
    },
    SharedError {
        status: "500",
        name: "InternalError",
        description: "the server could not complete the request",
        sent_by: |_| true,
        header: None,
    },
    SharedError {
        status: "503",
        name: "Unavailable",
        description: "a backing service is unavailable; retry later",
        sent_by: |_| true,
        header: None,
    },
];

fn accepts_token(operation: &Operation) -> bool {
    operation
        .security
        .as_ref()
        .is_some_and(|requirements| !requirements.is_empty())
}

fn takes_body(operation: &Operation) -> bool {
    operation.request_body.is_some()
}

fn has_parameters(operation: &Operation) -> bool {
    operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty())
}

fn has_parameter_in(operation: &Operation, place: ParameterIn) -> bool {
    operation
        .parameters
        .iter()
        .flatten()
        .any(|parameter| parameter.parameter_in == place)
}

/// The document served at `/openapi.json`: the routers' operations, each listing the
/// shared error answers it can give, every error answer as `application/problem+json`.
pub fn with_error_responses(mut document: Document) -> Document {
    let components = document.components.get_or_insert_with(Default::default);
    for shared in SHARED_ERRORS {
        let mut response = Response::new(shared.description);
        response
            .content
            .insert(PROBLEM_JSON.to_owned(), problem_content());
        if let Some((name, kind)) = &shared.header {
            response.headers.insert((*name).to_owned(), header_of(kind));
        }
        components
            .responses
            .insert(shared.name.to_owned(), RefOr::T(response));
    }
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            document_errors(operation);
        }
    }
    document
}

fn document_errors(operation: &mut Operation) {
    for shared in SHARED_ERRORS {
        if (shared.sent_by)(operation) {
            operation
                .responses
                .responses
                .entry(shared.status.to_owned())
                .or_insert_with(|| shared_ref(shared));
        }
    }
    for (status, response) in &mut operation.responses.responses {
        let RefOr::T(inline) = response else { continue };
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        let shared = SHARED_ERRORS.iter().find(|shared| shared.status == status);
        match shared {
            // said in the annotation with nothing to add to the shared answer
            Some(shared) if inline.description.is_empty() && inline.headers.is_empty() => {
                *response = shared_ref(shared);
            }
            // an operation's own description of the shared answer
            _ => {
                inline.content.clear();
                inline
                    .content
                    .insert(PROBLEM_JSON.to_owned(), problem_content());
                if let Some((name, kind)) = shared.and_then(|shared| shared.header.as_ref()) {
                    inline
                        .headers
                        .entry((*name).to_owned())
                        .or_insert_with(|| header_of(kind));
                }
            }
        }
    }
}

fn shared_ref(shared: &SharedError) -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(shared.name))
}

fn header_of(kind: &Type) -> Header {
    Header::new(Object::with_type(kind.clone()))
}

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::OperationBuilder;
    use utoipa::openapi::request_body::RequestBody;
    use utoipa::openapi::response::ResponseBuilder;

    use super::*;

    fn statuses(operation: &Operation) -> Vec<&str> {
        operation
            .responses
            .responses
            .keys()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn a_public_operation_with_a_body_lists_the_body_errors_only() {
        let mut operation = OperationBuilder::new()
            .request_body(Some(RequestBody::new()))
            .response("200", Response::new("ok"))
            .build();
        document_errors(&mut operation);
        assert_eq!(
            statuses(&operation),
            ["200", "400", "413", "415", "422", "500", "503"]
        );
    }

    #[test]
    fn error_answers_of_annotations_become_problems() {
        let conflict = ResponseBuilder::new()
            .description("taken")
            .content("application/json", problem_content())
            .build();
        let mut operation = OperationBuilder::new()
            .response("409", conflict)
            .response("404", Response::new(""))
            .build();
        document_errors(&mut operation);
        let responses = &operation.responses.responses;
        let RefOr::T(conflict) = &responses["409"] else {
            panic!("the 409 has its own description")
        };
        assert_eq!(conflict.description, "taken");
        assert_eq!(conflict.content.keys().collect::<Vec<_>>(), [PROBLEM_JSON]);
        let RefOr::Ref(not_found) = &responses["404"] else {
            panic!("a bare 404 is the shared one")
        };
        assert_eq!(not_found.ref_location, "#/components/responses/NotFound");
    }
}
