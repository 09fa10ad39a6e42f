//! `GET /reports/exchange.csv?year=Y[&quarter=Q]`: the exchange report's rows as CSV, for
//! spreadsheet programs and the culture bureaus.
//!
//! Same rows and access as `exchangeReport`: `Authorization: Bearer <access token>` of a
//! staff account (any role), which sees the pairs its center is part of. Refusals carry the
//! GraphQL error shape (`{"errors": [{"message", "extensions": {"code"}}]}`) with an HTTP
//! status: no token, or a bad one, is 401 `UNAUTHENTICATED` (with `WWW-Authenticate:
//! Bearer`); a resident's token is 403 `FORBIDDEN`; a bad `year` or `quarter` is 400
//! `BAD_USER_INPUT`. Unlike the GraphQL list, a whole year is never refused for its size.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use sea_orm::DatabaseConnection;

use crate::app::AppState;
use crate::db::replica::Route;
use crate::domain::exchange_report::{self, Period};
use crate::domain::{catalog, now};
use crate::error::AppError;
use crate::http::{app_error_body, caller_from};

fn refusal(err: &AppError) -> Response {
    let status = match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::BadInput { .. } => StatusCode::BAD_REQUEST,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        // The detail is logged by `app_error_body`, never sent.
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::CONFLICT,
    };
    let mut response = app_error_body(status, err);
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<i32>, AppError> {
    match params.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| AppError::bad_input(name, format!("{name} must be a whole number"))),
    }
}

/// `GET /reports/exchange.csv`.
pub async fn exchange_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match caller_from(&state, authorization).await {
        Ok(caller) => caller,
        Err(err) => return refusal(&err),
    };
    // Who may ask comes first: an anonymous or resident caller learns nothing from the
    // parameters' checks.
    if let Err(err) = caller.staff(entity::enums::Role::Usher) {
        return refusal(&err);
    }
    let period = match number(&params, "year").and_then(|year| {
        let year = year.ok_or_else(|| AppError::bad_input("year", "year is required"))?;
        Period::new(year, number(&params, "quarter")?)
    }) {
        Ok(period) => period,
        Err(err) => return refusal(&err),
    };
    let route = Route::new(
        state.services.db.clone(),
        state.services.replica.clone(),
        false,
    );
    let caller = &caller;
    let read = |db: DatabaseConnection| async move {
        let rows = exchange_report::report(&db, caller, period, now()).await?;
        let centers = catalog::centers(&db).await?;
        Ok::<_, AppError>((rows, centers))
    };
    // A report: the replica only when it has every write committed before this request
    // (`crate::db::replica`); a standby that fails it hands the request to the primary.
    let mut result = read(route.report_reads().await.clone()).await;
    if route.used_replica()
        && let Err(err @ (AppError::Unavailable(_) | AppError::Internal(_))) = &result
        && let Some(replica) = route.replica()
    {
        if matches!(err, AppError::Unavailable(_)) {
            replica.mark_stale();
        }
        crate::db::replica::record_fallback();
        result = read(state.services.db.clone()).await;
    }
    route.record();
    let (rows, centers) = match result {
        Ok(found) => found,
        Err(err) => return refusal(&err),
    };
    let filename = match period.quarter {
        Some(q) => format!("exchange-{}-Q{q}.csv", period.year),
        None => format!("exchange-{}.csv", period.year),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        exchange_report::to_csv(&rows, &centers),
    )
        .into_response()
}
