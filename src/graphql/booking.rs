//! Booking, tickets and check-in.

use super::reads;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::Duration;

use super::types::{Booking, BookingConnection, Ticket, id_connection, parse_id_cursor};
use super::{caller, page_size, services};
use crate::domain::booking::{self, BookingRequest};
use crate::domain::checkin;
use crate::error::{AppError, AppResult};
use crate::ids::{Kind, decode};

/// `bookSeats` input: exactly one of `seatIds` and `quantity`.
#[derive(InputObject)]
pub struct BookSeatsInput {
    /// The performance.
    pub performance_id: ID,
    /// These seats, all or nothing.
    pub seat_ids: Option<Vec<ID>>,
    /// This many seats (best together) or general-admission places.
    pub quantity: Option<i32>,
    /// Makes retries safe: the same key returns the same booking (kept at least 24 h).
    pub idempotency_key: Option<String>,
}

/// Booking queries.
#[derive(Default)]
pub struct BookingQuery;

#[Object]
impl BookingQuery {
    /// The signed-in resident's bookings, newest first.
    async fn my_bookings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<BookingConnection> {
        let account = caller(ctx).identity()?.account_id;
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("B", "after", c))
            .transpose()?;
        let (rows, has_next, total) =
            booking::page(reads(ctx)?, Some(account), None, after_id, first).await?;
        Ok(id_connection(
            "B",
            rows,
            after_id.is_some(),
            has_next,
            total,
            |b| b.id,
            Booking,
        ))
    }

    /// A booking: its holder's, or for the host center's staff.
    async fn booking(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Booking>> {
        let id = decode(Kind::Booking, &id)?;
        Ok(Some(Booking(
            booking::visible(reads(ctx)?, caller(ctx), id).await?,
        )))
    }

    /// The bookings of one of the caller's center's performances (SCHEDULER and up).
    async fn performance_bookings(
        &self,
        ctx: &Context<'_>,
        performance_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<BookingConnection> {
        let id = decode(Kind::Performance, &performance_id)?;
        let db = reads(ctx)?;
        booking::for_performance(db, caller(ctx), id).await?;
        let first = page_size("first", first)?;
        let after_id = after
            .as_deref()
            .map(|c| parse_id_cursor("B", "after", c))
            .transpose()?;
        let (rows, has_next, total) = booking::page(db, None, Some(id), after_id, first).await?;
        Ok(id_connection(
            "B",
            rows,
            after_id.is_some(),
            has_next,
            total,
            |b| b.id,
            Booking,
        ))
    }

    /// A ticket by its code, for the host center's staff (USHER and up).
    async fn ticket(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<Option<Ticket>> {
        let (ticket, _) = checkin::find_for_staff(reads(ctx)?, caller(ctx), &code).await?;
        Ok(Some(Ticket(ticket)))
    }
}

/// Booking mutations.
#[derive(Default)]
pub struct BookingMutation;

#[Object]
impl BookingMutation {
    /// Books seats for the signed-in resident: all or nothing.
    async fn book_seats(
        &self,
        ctx: &Context<'_>,
        input: BookSeatsInput,
    ) -> async_graphql::Result<Booking> {
        let caller = caller(ctx);
        caller.resident()?;
        let performance_id = decode(Kind::Performance, &input.performance_id)?;
        let seat_ids = input
            .seat_ids
            .map(|ids| {
                ids.iter()
                    .map(|id| {
                        decode(Kind::Seat, id)
                            .map_err(|_| AppError::bad_input("seatIds", "not a seat id"))
                    })
                    .collect::<AppResult<Vec<_>>>()
            })
            .transpose()?;
        let request = BookingRequest::new(
            performance_id,
            seat_ids,
            input.quantity,
            input.idempotency_key,
        )?;
        let services = services(ctx)?.clone();
        let caller = caller.clone();
        let started = std::time::Instant::now();
        // On its own task: a client that hangs up (or a request timeout) cannot stop a
        // booking between its commit and its availability event.
        let result = tokio::spawn(async move {
            booking::book(
                &services.db,
                &services.realtime,
                &services.bookings,
                &caller,
                request,
            )
            .await
        })
        .await
        .unwrap_or_else(|e| Err(e.into()));
        let outcome = match &result {
            Ok(_) => "CONFIRMED",
            Err(err) => err.code(),
        };
        metrics::counter!("zouqin_bookings_total", "outcome" => outcome).increment(1);
        metrics::histogram!("zouqin_booking_seconds").record(started.elapsed().as_secs_f64());
        Ok(Booking(result?))
    }

    /// Cancels one of the resident's bookings (until booking closes); its seats are free at once.
    async fn cancel_booking(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Booking> {
        let caller = caller(ctx);
        caller.resident()?;
        let id = decode(Kind::Booking, &id)?;
        let services = services(ctx)?.clone();
        let caller = caller.clone();
        Ok(Booking(
            tokio::spawn(async move {
                booking::cancel(
                    &services.db,
                    &services.realtime,
                    &services.bookings,
                    &caller,
                    id,
                )
                .await
            })
            .await
            .unwrap_or_else(|e| Err(e.into()))?,
        ))
    }

    /// Admits a ticket at the door (staff of the host center).
    async fn check_in_ticket(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<Ticket> {
        let services = services(ctx)?;
        let opens_before = Duration::minutes(services.settings.checkin_opens_minutes);
        Ok(Ticket(
            checkin::check_in(&services.db, caller(ctx), &code, opens_before).await?,
        ))
    }
}
