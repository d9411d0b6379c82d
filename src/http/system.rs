//! Liveness, readiness and the first-admin setup page.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Html, Json};
use poem::{IntoResponse, Response, handler};
use serde::Serialize;

use crate::app::AppState;

/// Alive: the process answers.
#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize)]
struct Check {
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    store: Check,
    disk: Check,
    closer: Check,
    search: Check,
}

/// Ready: the store answers a read and accepts writes, the data disk has
/// room (at least the write reserve `storage.min_free_mb` and 2 %), the
/// closer runs, and the search index is open (not rebuilding).
#[handler]
pub async fn readyz(state: Data<&Arc<AppState>>) -> Response {
    let store_ok = state.store.answers().await;
    let store = Check {
        ok: store_ok,
        detail: if store_ok {
            "reads and writes".into()
        } else {
            "unavailable".into()
        },
    };
    let disk = match crate::app::disk_space(&state.config.storage.data_dir) {
        Ok((avail, total)) => disk_check(avail, total, state.store.below_reserve(avail)),
        Err(e) => Check {
            ok: false,
            detail: e.to_string(),
        },
    };
    // The closer runs at start and then every minute by default; three
    // minutes without a run means it stopped (SPEC §6's alert rule).
    let last = state
        .closer_last_run
        .load(std::sync::atomic::Ordering::Relaxed);
    let age = chrono::Utc::now().timestamp() - last;
    let closer = if last == 0 {
        Check {
            ok: state.started.elapsed().as_secs() < 180,
            detail: "has not run yet".into(),
        }
    } else {
        Check {
            ok: age < 180,
            detail: format!("last ran {age} s ago"),
        }
    };
    let search = match state.search.state() {
        crate::search::State::Ready => Check {
            ok: true,
            detail: format!("up to queue entry {}", state.search.applied_seq()),
        },
        crate::search::State::Starting => Check {
            ok: false,
            detail: "opening the index".into(),
        },
        crate::search::State::Rebuilding => Check {
            ok: false,
            detail: "rebuilding the index from the store".into(),
        },
        crate::search::State::Failed(e) => Check {
            ok: false,
            detail: e,
        },
    };
    let ready = store.ok && disk.ok && closer.ok && search.ok;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(Readiness {
        ready,
        store,
        disk,
        closer,
        search,
    })
    .with_status(status)
    .into_response()
}

/// Not ready below the writer's reserve (`storage.min_free_mb`), where
/// every write is refused with 507, or below 2 % free when the reserve is
/// off or smaller than that.
fn disk_check(avail: u64, total: u64, below_reserve: Option<String>) -> Check {
    let free = if total > 0 {
        avail as f64 / total as f64
    } else {
        0.0
    };
    match below_reserve {
        Some(short) => Check {
            ok: false,
            detail: format!(
                "below the disk reserve (storage.min_free_mb): {short}; writes are refused"
            ),
        },
        None => Check {
            ok: free >= 0.02,
            detail: format!("{:.1}% free", free * 100.0),
        },
    }
}

#[handler]
pub fn setup_page() -> Response {
    match super::PublicAssets::get("setup.html") {
        Some(f) => Html(String::from_utf8_lossy(&f.data).into_owned())
            .with_header("cache-control", "no-store")
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::below_reserve;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn the_disk_is_not_ready_below_the_reserve_even_with_room_to_spare() {
        // 40 % free, but under a 64 MiB reserve: writes are refused, so not ready.
        let c = disk_check(40 * MIB, 100 * MIB, below_reserve(40 * MIB, 64 * MIB));
        assert!(!c.ok);
        assert!(c.detail.contains("disk reserve"), "{}", c.detail);
        assert!(c.detail.contains("storage.min_free_mb"), "{}", c.detail);
    }

    #[test]
    fn the_disk_is_ready_at_the_reserve_and_above_two_percent() {
        let c = disk_check(64 * MIB, 100 * MIB, below_reserve(64 * MIB, 64 * MIB));
        assert!(c.ok, "{}", c.detail);
        assert_eq!(c.detail, "64.0% free");
        let c = disk_check(50 * MIB, 100 * MIB, below_reserve(50 * MIB, 0));
        assert!(c.ok, "a reserve of 0 is off: {}", c.detail);
    }

    #[test]
    fn the_disk_is_not_ready_below_two_percent_without_a_reserve() {
        let c = disk_check(MIB, 100 * MIB, below_reserve(MIB, 0));
        assert!(!c.ok);
        assert_eq!(c.detail, "1.0% free");
        assert!(!disk_check(0, 0, None).ok, "no size: not ready");
    }
}
