//! Integration tests: the real router on port 0, over HTTP and WebSocket, against a fresh
//! database per test (SQLite file, or a PostgreSQL database when `ZOUQIN_TEST_POSTGRES`
//! names a server).

mod helpers;

mod accounts;
mod booking;
mod contract;
mod faults;
mod foundation;
mod hardening;
mod ledger;
mod limits;
mod notifications;
mod operations;
mod plans;
mod productions;
mod public_cache;
mod replica;
mod rules;
mod scheduling;
mod shares;
mod standby;
mod waitlist;
