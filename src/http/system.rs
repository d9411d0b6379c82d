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

/// Ready: the store answers a read and accepts writes, and the data disk
/// has room, the closer runs, and the search index is open (not rebuilding).
#[handler]
pub async fn readyz(state: Data<&Arc<AppState>>) -> Response {
    let store_ok = state.store.is_healthy()
        && state
            .store
            .read(|txn| {
                txn.open_table(crate::store::tables::META)
                    .map(|_| ())
                    .map_err(crate::store::StoreError::from)
            })
            .await
            .is_ok();
    let store = Check {
        ok: store_ok,
        detail: if store_ok {
            "reads and writes".into()
        } else {
            "unavailable".into()
        },
    };
    let disk = match crate::app::disk_free_ratio(&state.config.storage.data_dir) {
        Ok(free) => Check {
            ok: free >= 0.02,
            detail: format!("{:.1}% free", free * 100.0),
        },
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

#[handler]
pub fn setup_page() -> Response {
    match super::PublicAssets::get("setup.html") {
        Some(f) => Html(String::from_utf8_lossy(&f.data).into_owned())
            .with_header("cache-control", "no-store")
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
