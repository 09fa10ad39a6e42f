//! Zouqin (走亲): seat booking for the cultural-exchange events of the Pinghu, Jinshan and
//! Jiashan cultural centers. The layers run one way: `http` → `graphql` → `domain` →
//! sea-orm `entity` → database; `web` serves the browser app that speaks the public API.

pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod generate;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod public_cache;
pub mod realtime;
pub mod reports;
pub mod web;
