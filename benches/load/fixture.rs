//! Fixture: the seeded database every scenario shares (residents with minted tokens, the
//! venues and performances).

use super::*;

pub(super) struct Resident {
    pub(super) email: String,
    pub(super) token: String,
}

pub(super) struct Fixture {
    pub(super) db_name: String,
    pub(super) db_url: String,
    pub(super) secret: String,
    pub(super) work_dir: PathBuf,
    pub(super) server_env: Vec<(String, String)>,
    pub(super) pool: PgPool,
    pub(super) residents: Arc<Vec<Resident>>,
    arena_id: String,
    hall_id: String,
    /// A small performance the statement profile books on.
    pub(super) profile_perf: String,
    /// Days ahead for the next performance at the arena (one per day: no overlaps).
    next_arena_day: AtomicI64,
    /// Pinghu and Jinshan: residents alternate between them (the shares run splits the
    /// arena 50/50 between them).
    pub(super) share_centers: [String; 2],
}

impl Fixture {
    pub(super) async fn setup(_pg: &Postgres, db: &TempDb, settings: &Settings) -> BoxResult<Self> {
        let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("zq-bench-{}", std::process::id()));
        std::fs::create_dir_all(&work_dir)?;
        let secret = format!(
            "zq-bench-secret-{}-{:016x}{:016x}",
            std::process::id(),
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        // Demo centers, admins and performances (also runs the migrations).
        let out = Command::new(BIN)
            .arg("seed-demo")
            .env("DATABASE_URL", db.url())
            .env("ZOUQIN_DEMO_PASSWORD", DEMO_PASSWORD)
            .env("RUST_LOG", "warn")
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "zouqin seed-demo failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let pool = pool(&db.url(), 4).await?;
        let mut fx = Self {
            db_name: db.name.clone(),
            db_url: db.url(),
            secret,
            work_dir,
            server_env: settings.server_env.clone(),
            pool,
            residents: Arc::new(Vec::new()),
            arena_id: String::new(),
            hall_id: String::new(),
            profile_perf: String::new(),
            next_arena_day: AtomicI64::new(200),
            share_centers: Default::default(),
        };
        let server = Server::start(&fx, "setup", "warn").await?;
        let api = Api::new(&server)?;
        let admin = fx.admin_token(&api).await?;
        let centers = api.must(None, "{ centers { id code } }", json!({})).await?;
        let center = |code: &str| {
            centers["centers"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["code"] == code))
                .and_then(|c| c["id"].as_str())
                .map(str::to_owned)
                .ok_or(format!("no {code} center after seed-demo"))
        };
        let home_center = center("pinghu")?;
        fx.share_centers = [home_center.clone(), center("jinshan")?];
        fx.arena_id =
            create_venue(&api, &admin, "Bench Arena", ARENA_ROWS, ARENA_ROW_SEATS).await?;
        fx.hall_id = create_venue(&api, &admin, "Bench Hall", HALL_ROWS, HALL_ROW_SEATS).await?;
        for n in 0..BROWSE_EXTRA_PERFORMANCES {
            let title = format!("Bench concert {n:02}");
            schedule_and_publish(&api, &admin, &fx.hall_id, &title, 30 + n as i64, json!({}))
                .await?;
        }
        fx.profile_perf =
            schedule_and_publish(&api, &admin, &fx.hall_id, "Profile", 29, json!({})).await?;
        // One resident through the API: its argon2 hash is copied to all the others, and its
        // token shows the claims the server issues (so minted tokens have the same shape).
        let first_email = resident_email(0);
        let registered = api
            .must(
                None,
                "mutation($input: RegisterResidentInput!) { registerResident(input: $input) { accessToken account { id } } }",
                json!({ "input": {
                    "email": first_email,
                    "password": RESIDENT_PASSWORD,
                    "displayName": "Bench resident 0",
                    "homeCenterId": home_center,
                }}),
            )
            .await?;
        let template = claims_of(str_at(&registered, "/registerResident/accessToken")?)?;
        let first_id = raw_id(str_at(&registered, "/registerResident/account/id")?)?;
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM account WHERE id = $1")
            .bind(first_id)
            .fetch_one(&fx.pool)
            .await?;
        sqlx::query(
            "INSERT INTO account (email, password_hash, display_name, role, home_center_id, active, created_at) \
             SELECT 'bench-r' || lpad(g::text, 6, '0') || '@bench.example', $1, 'Bench resident ' || g, \
                    'RESIDENT', CASE WHEN g % 2 = 0 THEN $2 ELSE $4 END, TRUE, now() \
             FROM generate_series(1, $3) AS g",
        )
        .bind(&hash)
        .bind(raw_id(&home_center)?)
        .bind(settings.residents as i64 - 1)
        .bind(raw_id(&fx.share_centers[1])?)
        .execute(&fx.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT id, email FROM account WHERE email LIKE 'bench-r%@bench.example' ORDER BY email",
        )
        .fetch_all(&fx.pool)
        .await?;
        let rows = rows
            .into_iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("email")?)))
            .collect::<Result<Vec<(i64, String)>, sqlx::Error>>()?;
        let residents = mint(&fx.secret, &template, rows)?;
        // A minted token must be accepted as that resident.
        let probe = residents.get(1).ok_or("no residents")?;
        let me = api
            .must(Some(&probe.token), "{ me { email } }", json!({}))
            .await?;
        if me.pointer("/me/email").and_then(Value::as_str) != Some(probe.email.as_str()) {
            return Err(format!("a minted token was not accepted: {me}").into());
        }
        fx.residents = Arc::new(residents);
        server.stop();
        Ok(fx)
    }

    pub(super) async fn admin_token(&self, api: &Api) -> BoxResult<String> {
        let data = api
            .must(
                None,
                LOGIN_MUTATION,
                json!({ "e": ADMIN_EMAIL, "p": DEMO_PASSWORD }),
            )
            .await?;
        Ok(str_at(&data, "/login/accessToken")?.to_owned())
    }

    /// A fresh published performance at the 20,000-seat arena: (global id, row id).
    pub(super) async fn arena_performance(
        &self,
        api: &Api,
        admin: &str,
        title: &str,
        extra: Value,
    ) -> BoxResult<(String, i64)> {
        let day = self.next_arena_day.fetch_add(1, Ordering::SeqCst);
        let id = schedule_and_publish(api, admin, &self.arena_id, title, day, extra).await?;
        let raw = raw_id(&id)?;
        Ok((id, raw))
    }
}

/// `base` with `extra`'s fields added (objects only).
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

fn resident_email(n: usize) -> String {
    format!("bench-r{n:06}@bench.example")
}

/// Access tokens for `rows` (id, email): `template`'s claims (a real token's) with `sub`,
/// `iat`, `exp` and `jti` replaced, signed with the server's secret, so no argon2 runs in
/// the setup.
pub(super) fn mint(
    secret: &str,
    template: &Value,
    rows: Vec<(i64, String)>,
) -> BoxResult<Vec<Resident>> {
    let now = chrono::Utc::now().timestamp();
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())?;
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let mut residents = Vec::with_capacity(rows.len());
    for (id, email) in rows {
        let mut claims = template.clone();
        claims["sub"] = json!(id.to_string());
        claims["iat"] = json!(now);
        claims["exp"] = json!(now + 3 * 3600);
        claims["jti"] = json!(format!("{:032x}", rand::random::<u128>()));
        residents.push(Resident {
            email,
            token: jsonwebtoken::encode(&header, &claims, &key)?,
        });
    }
    Ok(residents)
}

/// The JSON claims of a JWT (not verified: it is ours).
pub(super) fn claims_of(token: &str) -> BoxResult<Value> {
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
}

pub(super) async fn create_venue(
    api: &Api,
    admin: &str,
    name: &str,
    rows: usize,
    seats: usize,
) -> BoxResult<String> {
    let rows: Vec<Value> = (1..=rows)
        .map(|r| json!({ "label": format!("R{r:03}"), "seats": seats }))
        .collect();
    let data = api
        .must(
            Some(admin),
            "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id capacity } }",
            json!({ "input": {
                "name": name,
                "address": "1 Benchmark Road, Pinghu",
                "kind": "THEATER",
                "seating": "RESERVED",
                "sections": [{ "name": "Stalls", "rows": rows }],
            }}),
        )
        .await?;
    Ok(str_at(&data, "/createVenue/id")?.to_owned())
}

pub(super) async fn schedule_and_publish(
    api: &Api,
    admin: &str,
    venue: &str,
    title: &str,
    days_ahead: i64,
    extra: Value,
) -> BoxResult<String> {
    let day = (chrono::Utc::now() + chrono::Duration::days(days_ahead)).date_naive();
    let data = api
        .must(
            Some(admin),
            "mutation($input: SchedulePerformanceInput!) { schedulePerformance(input: $input) { id } }",
            json!({ "input": merged(json!({
                "venueId": venue,
                "title": title,
                "category": "CONCERT",
                "startsAt": format!("{day}T11:00:00Z"),
                "endsAt": format!("{day}T13:00:00Z"),
                "perResidentLimit": 4,
            }), extra) }),
        )
        .await?;
    let id = str_at(&data, "/schedulePerformance/id")?.to_owned();
    api.must(
        Some(admin),
        "mutation($id: ID!) { publishPerformance(id: $id) { id status } }",
        json!({ "id": id }),
    )
    .await?;
    Ok(id)
}
