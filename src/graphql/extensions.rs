//! Gives the errors that async-graphql raises before execution the codes of API.md:
//! `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED` and `QUERY_TOO_COMPLEX`; and
//! refuses documents over the limits of [`super::limits`] right after parsing, before any of
//! async-graphql's own visitors walk them.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;

use super::limits::{self, Refusal, SchemaModel};
use async_graphql::{
    PathSegment, Request, Response, ServerError, ServerResult, ValidationResult, Variables,
};

/// The extension factory.
pub struct ErrorCodes {
    model: Arc<SchemaModel>,
}

impl ErrorCodes {
    /// The extension, costing documents against `model`.
    pub fn new(model: Arc<SchemaModel>) -> Self {
        Self { model }
    }
}

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension {
            model: self.model.clone(),
        })
    }
}

struct ErrorCodesExtension {
    model: Arc<SchemaModel>,
}

impl ErrorCodesExtension {
    fn refuse_over_limits(
        &self,
        doc: &ExecutableDocument,
        variables: &Variables,
    ) -> ServerResult<()> {
        match limits::check(&self.model, doc, variables) {
            Ok(_) => {}
            Err(Refusal::FragmentCycle(message)) => {
                return Err(coded(
                    ServerError::new(message, None),
                    "GRAPHQL_VALIDATION_FAILED",
                ));
            }
            Err(Refusal::TooComplex(message)) => {
                return Err(coded(ServerError::new(message, None), "QUERY_TOO_COMPLEX"));
            }
            Err(Refusal::BadPage(argument)) => {
                let mut error = ServerError::new(
                    format!("{argument} must be between 0 and {}", limits::MAX_PAGE),
                    None,
                );
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("field", argument);
                return Err(coded(error, "BAD_USER_INPUT"));
            }
        }
        Ok(())
    }
}

fn coded(mut err: ServerError, code: &str) -> ServerError {
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    err
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    /// Parses the document and checks it against the limits before async-graphql's own
    /// parse step, which walks every fragment at every spread (its recursion-depth and
    /// directive checks) and would never return on a fan-out of fragments.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // The HTTP layer has usually parsed the document already (for the operation's name
        // and type); `parsed_query` reuses that parse and parses only when it has not.
        let variables = std::mem::take(&mut request.variables);
        let doc = request
            .parsed_query()
            .map_err(|e| coded(e, "GRAPHQL_PARSE_FAILED"))?;
        self.refuse_over_limits(doc, &variables)?;
        request.variables = variables;
        next.run(ctx, request).await
    }

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
