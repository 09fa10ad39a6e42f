//! Gives the errors that async-graphql raises before execution the codes of API.md:
//! `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED` and `QUERY_TOO_COMPLEX`; and
//! refuses documents with too many aliases or root fields before they are validated.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{
    PathSegment, Response, ServerError, ServerResult, ValidationResult, Variables,
};

/// Most fields (aliased or not) in one document.
pub const MAX_FIELDS: usize = 1_000;
/// Most root fields in one operation.
pub const MAX_ROOT_FIELDS: usize = 50;

/// The extension factory.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn coded(mut err: ServerError, code: &str) -> ServerError {
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    err
}

fn count_fields(set: &SelectionSet, doc: &ExecutableDocument, depth: usize) -> usize {
    if depth > 64 {
        return MAX_FIELDS + 1;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                1 + count_fields(&field.node.selection_set.node, doc, depth + 1)
            }
            Selection::InlineFragment(fragment) => {
                count_fields(&fragment.node.selection_set.node, doc, depth + 1)
            }
            Selection::FragmentSpread(spread) => doc
                .fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |f| {
                    count_fields(&f.node.selection_set.node, doc, depth + 1)
                }),
        })
        .sum()
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next
            .run(ctx, query, variables)
            .await
            .map_err(|e| coded(e, "GRAPHQL_PARSE_FAILED"))?;
        for (_, operation) in doc.operations.iter() {
            let root = &operation.node.selection_set.node;
            if root.items.len() > MAX_ROOT_FIELDS {
                return Err(coded(
                    ServerError::new(
                        format!("an operation may have at most {MAX_ROOT_FIELDS} root fields"),
                        None,
                    ),
                    "QUERY_TOO_COMPLEX",
                ));
            }
            if count_fields(root, &doc, 0) > MAX_FIELDS {
                return Err(coded(
                    ServerError::new(
                        format!("a document may select at most {MAX_FIELDS} fields"),
                        None,
                    ),
                    "QUERY_TOO_COMPLEX",
                ));
            }
        }
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        for error in &mut response.errors {
            let coded = error
                .extensions
                .as_ref()
                .is_some_and(|ext| ext.get("code").is_some());
            if coded {
                continue;
            }
            // Arguments that pass validation but fail to parse (a malformed DateTime, say)
            // are the client's mistake; anything else uncoded is ours.
            let input = error.message.starts_with("Failed to parse")
                || error.message.starts_with("Invalid value");
            let ext = error.extensions.get_or_insert_with(Default::default);
            if input {
                ext.set("code", "BAD_USER_INPUT");
                if let Some(PathSegment::Field(field)) = error.path.last() {
                    ext.set("field", field.as_str());
                }
            } else {
                tracing::error!(message = %error.message, "uncoded GraphQL error");
                ext.set("code", "INTERNAL");
                error.message = "internal error".to_owned();
            }
        }
        response
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let limit = e.message.contains("too deep")
                        || e.message.contains("too complex")
                        || e.message.contains("too many directives")
                        || e.message.contains("recursion depth");
                    coded(
                        e,
                        if limit {
                            "QUERY_TOO_COMPLEX"
                        } else {
                            "GRAPHQL_VALIDATION_FAILED"
                        },
                    )
                })
                .collect()
        })
    }
}
