//! The seeded 2018 history.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use zouqin::domain::season::Season;

use super::*;

async fn table_sizes(app: &TestApp) -> HashMap<&'static str, u64> {
    let mut sizes = HashMap::new();
    for table in [
        "account",
        "venue",
        "seasonal_allocation",
        "performance",
        "booking",
        "ticket",
        "no_show",
        "resident_hold",
    ] {
        let row = app
            .db
            .conn
            .query_one_raw(Statement::from_string(
                app.db.conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count")
            .expect("a row");
        sizes.insert(table, row.try_get::<i64>("", "n").expect("n") as u64);
    }
    sizes
}

#[tokio::test]
async fn seeding_loads_the_2018_exchange_with_its_headline_figures_once() {
    let app = spawn().await;
    let started = std::time::Instant::now();
    zouqin::demo::seed(&app.db.conn, PASSWORD)
        .await
        .expect("seed");
    eprintln!("seed-demo (debug build) took {:?}", started.elapsed());
    let sizes = table_sizes(&app).await;

    let mut rows = BTreeMap::new();
    for code in ["pinghu", "jinshan", "jiashan"] {
        let token = app.admin(code).await;
        let r = app.gql(Some(&token), REPORT, json!({ "y": 2018 })).await;
        rows.extend(rows_by_key(&r.data()["exchangeReport"]));
    }
    let total = |i: usize| rows.values().map(|row| figures(row)[i]).sum::<i64>();
    assert_eq!(total(0), 89, "exchange sessions");
    assert_eq!(total(1), 89, "all held");
    assert_eq!(total(2), 0);
    let attendances = total(5);
    eprintln!(
        "2018: {} sessions, {} seats offered, {} tickets, {attendances} attendances, {} no-shows",
        total(0),
        total(3),
        total(4),
        total(6)
    );
    assert!(
        (76_000..=80_000).contains(&attendances),
        "about 78,000 attendances, not {attendances}"
    );
    assert!(total(6) > 0, "some no-shows");
    assert_eq!(
        total(4),
        total(5) + total(6),
        "every 2018 ticket is used or a no-show"
    );
    // Every quarter, Jinshan sends Pinghu its premium series on a quota of 2.
    for quarter in 1..=4 {
        let row = &rows[&(2018, quarter, "jinshan".to_owned(), "pinghu".to_owned())];
        assert_eq!(row["allocation"]["performanceQuota"], 2);
        assert!(figures(row)[0] >= 2);
        assert!(rows.contains_key(&(2018, quarter, "pinghu".to_owned(), "jinshan".to_owned())));
    }
    // Residents of all three home centers came.
    let mut homes: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows.values() {
        for (center, (_, attended)) in home(row) {
            *homes.entry(center).or_default() += attended;
        }
    }
    assert_eq!(homes.len(), 3, "{homes:?}");
    assert!(homes.values().all(|n| *n > 1_000), "{homes:?}");
    assert_eq!(homes.values().sum::<i64>(), attendances);

    // Again: nothing is added.
    zouqin::demo::seed(&app.db.conn, PASSWORD)
        .await
        .expect("seed again");
    assert_eq!(table_sizes(&app).await, sizes);
    let token = app.admin("pinghu").await;
    let r = app.gql(Some(&token), REPORT, json!({ "y": 2018 })).await;
    let again = rows_by_key(&r.data()["exchangeReport"]);
    for (key, row) in &again {
        assert_eq!(&rows[key], row);
    }
    // The no-show step finds nothing left to settle in 2018.
    let marked = run_step(&app, Season::new(2019, 1).expect("season").starts_at()).await;
    assert_eq!(marked.no_shows, 0);
}
