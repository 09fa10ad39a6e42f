//! Browser tests: the web app (`/`, `/door`, `/staff`) in headless Chromium, driven through
//! Debian's chromedriver, against the real app started in this process on a fresh database.
//! Without Chromium they are reported `SKIPPED` (and fail when `CI=true`).

#[path = "../api/helpers.rs"]
mod helpers;

mod harness;
mod world;

mod door;
mod features;
mod residents;
mod serving;
mod staff;
mod waitlist;
