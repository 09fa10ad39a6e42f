//! One instance's picture of the free seats at the front of a performance, so that a
//! booking on the parallel path can choose its block without reading the database.
//!
//! It is a hint, never the truth: the database decides (the claim is conditional on
//! `booking_id IS NULL` and skips rows another transaction holds). A wrong hint costs one
//! more attempt, never a double sale. What keeps it close to the truth:
//! - it is the first [`FREE_SEAT_WINDOW`](super::FREE_SEAT_WINDOW) free seats (whole rows
//!   only), read again once it has nothing left to offer, after a miss, or when it is older
//!   than [`MAX_AGE`];
//! - a seat chosen by a booking of this instance is marked taken at once, under the same
//!   lock as the choice, so two bookings of one instance never choose the same seat;
//! - a seat this instance sold stays marked until a read that started after the sale has
//!   replaced the picture (a read that started before it may still show it free);
//! - a seat another instance sold shows up as a miss and is marked taken.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;

use super::{Claimed, FreeSeat, free_window, pick, whole_rows};
use crate::error::AppResult;

/// How long a picture serves before it is read again (it cannot see other instances'
/// sales except as misses, nor cancellations at all).
const MAX_AGE: Duration = Duration::from_secs(2);
/// Pictures kept; past this, the least recently used ones are dropped.
const MAX_PERFORMANCES: usize = 256;

/// The pictures of every performance this instance is selling.
#[derive(Debug, Default)]
pub struct SeatMaps {
    maps: Mutex<HashMap<i64, Arc<SeatMap>>>,
}

/// One performance's picture.
#[derive(Debug, Default)]
pub struct SeatMap {
    state: Mutex<State>,
    /// Held while the picture is being read again: one read at a time, the others wait.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    /// When the picture was read; `None` before the first read.
    read_at: Option<Instant>,
    /// Free seats at that read, in place order, whole rows only.
    free: Vec<FreeSeat>,
    /// Whether `free` reaches the end of the inventory.
    exhausted: bool,
    /// Seats of `free` known not to be free any more.
    taken: HashSet<i64>,
    /// Seats chosen by bookings of this instance that have not finished.
    held: HashSet<i64>,
    /// Seats this instance sold, with the sale's sequence number.
    sold: Vec<(u64, i64)>,
    /// Counts sales (and starts of reads).
    sequence: u64,
    /// Last use, for eviction.
    used_at: Option<Instant>,
    /// Counts invalidations, so a read that started before one does not count as fresh.
    epoch: u64,
}

/// What the picture offers a booking of `n` seats.
#[derive(Debug)]
pub enum Choice<'a> {
    /// These seats (and whether they sit together), held until the [`Hold`] ends.
    Seats(Hold<'a>, bool),
    /// The picture is missing, old, or has no block of `n` left: read it again.
    Stale,
    /// The picture covers the whole remaining inventory and holds fewer than `n` seats:
    /// only the exact path can answer.
    Undecided,
}

impl SeatMaps {
    /// The picture of a performance (empty until first read).
    pub fn of(&self, performance_id: i64) -> Arc<SeatMap> {
        let mut maps = lock(&self.maps);
        if let Some(map) = maps.get(&performance_id) {
            return map.clone();
        }
        if maps.len() >= MAX_PERFORMANCES {
            // Only pictures no booking is using (one in use would be replaced by a new one,
            // and two bookings could then choose the same seats).
            let mut by_age: Vec<(Option<Instant>, i64)> = maps
                .iter()
                .filter(|(_, map)| Arc::strong_count(map) == 1)
                .map(|(id, map)| (lock(&map.state).used_at, *id))
                .collect();
            by_age.sort();
            for (_, id) in by_age.into_iter().take(MAX_PERFORMANCES / 4) {
                maps.remove(&id);
            }
        }
        maps.entry(performance_id).or_default().clone()
    }
}

impl SeatMaps {
    /// Drops the picture of a performance, if there is one.
    pub fn invalidate(&self, performance_id: i64) {
        let map = lock(&self.maps).get(&performance_id).cloned();
        if let Some(map) = map {
            map.invalidate();
        }
    }

    /// Drops every picture.
    pub fn invalidate_all(&self) {
        let maps: Vec<Arc<SeatMap>> = lock(&self.maps).values().cloned().collect();
        for map in maps {
            map.invalidate();
        }
    }
}

impl SeatMap {
    /// Chooses `n` seats, best first, among those the picture shows free.
    pub fn choose(&self, n: usize) -> Choice<'_> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        state.used_at = Some(now);
        match state.read_at {
            Some(read_at) if now.duration_since(read_at) <= MAX_AGE => {}
            _ => return Choice::Stale,
        }
        // Row by row: the first row with a block of `n` holds the best block, so usually
        // only the front row is looked at.
        let free_in = |row: &[FreeSeat]| -> Vec<FreeSeat> {
            row.iter()
                .filter(|s| !state.taken.contains(&s.id))
                .cloned()
                .collect()
        };
        let mut chosen = None;
        for row in state.free.chunk_by(|a, b| a.row() == b.row()) {
            let row = free_in(row);
            if let (picked, true) = pick(&row, n) {
                chosen = Some((row, picked, true));
                break;
            }
        }
        if chosen.is_none() {
            if !state.exhausted {
                // No block in these rows; one may lie behind them.
                return Choice::Stale;
            }
            // The view is the whole remaining inventory: the best seats one by one, if
            // there are `n`.
            let all = free_in(&state.free);
            let (picked, together) = pick(&all, n);
            if picked.len() < n {
                return Choice::Undecided;
            }
            chosen = Some((all, picked, together));
        }
        let Some((seats, picked, together)) = chosen else {
            return Choice::Undecided;
        };
        let seats: Vec<Claimed> = picked.into_iter().map(|i| seats[i].claimed()).collect();
        for c in &seats {
            state.taken.insert(c.id);
            state.held.insert(c.id);
        }
        Choice::Seats(
            Hold {
                map: self,
                seats,
                done: false,
            },
            together,
        )
    }

    /// Ends a hold: the seats were sold, or not (then `missed` are those the database showed
    /// claimed by someone else; the others are free again).
    fn finish(&self, ids: &[i64], sold: bool, missed: &[i64]) {
        let mut state = lock(&self.state);
        let sequence = state.sequence;
        for id in ids {
            state.held.remove(id);
            if sold {
                state.sold.push((sequence, *id));
            } else if !missed.contains(id) && !state.sold.iter().any(|(_, s)| s == id) {
                // Free again, unless it was sold meanwhile by another path (`mark_sold`).
                state.taken.remove(id);
            }
        }
        if sold {
            state.sequence += 1;
        }
    }

    /// Marks seats sold through another path (explicit seats, the exact path).
    pub fn mark_sold(&self, ids: &[i64]) {
        let mut state = lock(&self.state);
        let sequence = state.sequence;
        for id in ids {
            state.taken.insert(*id);
            state.sold.push((sequence, *id));
        }
        state.sequence += 1;
    }

    /// Reads the picture again (one reader at a time; a caller that waited for another's
    /// read uses that one).
    pub async fn read(&self, conn: &impl ConnectionTrait, performance_id: i64) -> AppResult<()> {
        let asked_at = Instant::now();
        let _reading = self.reading.lock().await;
        let (started, epoch) = {
            let mut state = lock(&self.state);
            if state.read_at.is_some_and(|at| at >= asked_at) {
                return Ok(());
            }
            state.sequence += 1;
            (state.sequence, state.epoch)
        };
        let (mut window, exhausted) = free_window(conn, performance_id, 0).await?;
        window.truncate(whole_rows(&window, exhausted));
        let mut state = lock(&self.state);
        // Sales recorded before this read started are in what it read; later ones may not be.
        state.sold.retain(|(sequence, _)| *sequence >= started);
        let mut taken: HashSet<i64> = state.held.clone();
        taken.extend(state.sold.iter().map(|(_, id)| *id));
        state.taken = taken;
        state.free = window;
        state.exhausted = exhausted;
        // Invalidated meanwhile (seats given back after the read began): usable by no one.
        state.read_at = (state.epoch == epoch).then(Instant::now);
        Ok(())
    }

    /// Forgets the picture (the next booking reads it again).
    pub fn invalidate(&self) {
        let mut state = lock(&self.state);
        state.read_at = None;
        state.epoch += 1;
    }
}

/// Locks a mutex that guards hints and caches only: a panic while it was held leaves nothing
/// inconsistent to protect, so a poisoned lock is used as it is.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Seats a booking of this instance has chosen and is trying to claim. Dropped without an
/// outcome (the request was abandoned mid-statement), they count as sold: the statement
/// may have committed, and a later read corrects the picture either way.
#[derive(Debug)]
pub struct Hold<'a> {
    map: &'a SeatMap,
    seats: Vec<Claimed>,
    done: bool,
}

impl Hold<'_> {
    /// The inventory rows.
    pub fn ids(&self) -> Vec<i64> {
        self.seats.iter().map(|c| c.id).collect()
    }

    /// The seats.
    pub fn seat_ids(&self) -> Vec<i64> {
        self.seats.iter().filter_map(|c| c.seat_id).collect()
    }

    /// The booking committed.
    pub fn sold(mut self) {
        self.end(true, &[]);
    }

    /// The database showed `missed` claimed by someone else; the rest are free again.
    pub fn missed(mut self, missed: &[i64]) {
        self.end(false, missed);
    }

    /// The booking did not happen; the seats are free again.
    pub fn released(mut self) {
        self.end(false, &[]);
    }

    fn end(&mut self, sold: bool, missed: &[i64]) {
        if !self.done {
            self.done = true;
            self.map.finish(&self.ids(), sold, missed);
        }
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.end(true, &[]);
    }
}
