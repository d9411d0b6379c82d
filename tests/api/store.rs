//! The group-commit writer, driven directly.

use std::time::Duration;

use redb::{ReadableTable, TableDefinition};
use uphill::error::Error;
use uphill::store::{Store, StoreError, WriterOptions};

const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("test_counters");

fn open(max_group: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        WriterOptions {
            max_group,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    (dir, store)
}

async fn read_counter(store: &Store, key: &'static str) -> Option<u64> {
    store
        .read(move |txn| {
            let t = match txn.open_table(COUNTERS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(StoreError::from(e)),
            };
            Ok(t.get(key)?.map(|v| v.value()))
        })
        .await
        .unwrap()
}

/// Holds the writer busy inside a transaction so that the next commands
/// queue up behind it: they must then share one commit.
async fn block_writer(store: &Store) -> tokio::task::JoinHandle<()> {
    let s = store.clone();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let h = tokio::spawn(async move {
        s.write(move |_txn| {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_millis(300));
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    });
    tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
        .await
        .unwrap();
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_all_land() {
    let (_dir, store) = open(512);
    let blocker = block_writer(&store).await;
    let before = store.writer_stats();
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.write(move |txn| {
                let mut t = txn.open_table(COUNTERS)?;
                let cur = t.get("sum")?.map(|v| v.value()).unwrap_or(0);
                t.insert("sum", cur + i)?;
                Ok::<_, StoreError>(())
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    blocker.await.unwrap();
    let after = store.writer_stats();
    assert_eq!(read_counter(&store, "sum").await, Some((0..100).sum()));
    let commits = after.commits - before.commits;
    assert!(commits < 20, "100 queued writes took {commits} commits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_grouping_every_write_is_its_own_commit() {
    let (_dir, store) = open(1);
    let before = store.writer_stats();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.write(|txn| {
                let mut t = txn.open_table(COUNTERS)?;
                let cur = t.get("n")?.map(|v| v.value()).unwrap_or(0);
                t.insert("n", cur + 1)?;
                Ok::<_, StoreError>(())
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.writer_stats().commits - before.commits, 20);
    assert_eq!(read_counter(&store, "n").await, Some(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_command_does_not_take_its_neighbours_down() {
    let (_dir, store) = open(512);
    let blocker = block_writer(&store).await;
    let ok1 = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(|txn| {
                txn.open_table(COUNTERS)?.insert("a", 1)?;
                Ok::<_, Error>(())
            })
            .await
        })
    };
    let rejected = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(|_txn| Err::<(), _>(Error::Conflict("no".into())))
                .await
        })
    };
    let ok2 = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(|txn| {
                txn.open_table(COUNTERS)?.insert("b", 2)?;
                Ok::<_, Error>(())
            })
            .await
        })
    };
    blocker.await.unwrap();
    ok1.await.unwrap().unwrap();
    assert!(matches!(rejected.await.unwrap(), Err(Error::Conflict(_))));
    ok2.await.unwrap().unwrap();
    assert_eq!(read_counter(&store, "a").await, Some(1));
    assert_eq!(read_counter(&store, "b").await, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_is_replayed_alone_and_its_half_write_is_undone() {
    let (_dir, store) = open(512);
    let blocker = block_writer(&store).await;
    let good = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(|txn| {
                txn.open_table(COUNTERS)?.insert("good", 1)?;
                Ok::<_, StoreError>(())
            })
            .await
        })
    };
    let bad = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(|txn| {
                // Writes, then fails: the write must not survive.
                txn.open_table(COUNTERS)?.insert("half", 1)?;
                Err::<(), _>(StoreError::Unavailable("simulated".into()))
            })
            .await
        })
    };
    let after = {
        let s = store.clone();
        tokio::spawn(async move {
            s.write(|txn| {
                txn.open_table(COUNTERS)?.insert("after", 1)?;
                Ok::<_, StoreError>(())
            })
            .await
        })
    };
    blocker.await.unwrap();
    good.await.unwrap().unwrap();
    assert!(bad.await.unwrap().is_err());
    after.await.unwrap().unwrap();
    assert_eq!(read_counter(&store, "good").await, Some(1));
    assert_eq!(read_counter(&store, "after").await, Some(1));
    assert_eq!(read_counter(&store, "half").await, None);
    assert!(store.writer_stats().replays >= 1);
    assert!(store.is_healthy());
}

#[tokio::test]
async fn a_second_process_on_the_same_data_dir_is_refused_clearly() {
    let (dir, _store) = open(8);
    let err = Store::open(dir.path(), WriterOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("another process"), "{err}");
}

#[tokio::test]
async fn acknowledged_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), WriterOptions::default()).unwrap();
        store
            .write(|txn| {
                txn.open_table(COUNTERS)?.insert("kept", 7)?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
    }
    // The writer thread releases the file when the last handle is gone.
    let mut reopened = None;
    for _ in 0..50 {
        match Store::open(dir.path(), WriterOptions::default()) {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let store = reopened.expect("reopen");
    assert_eq!(read_counter(&store, "kept").await, Some(7));
}

/// A store written by the release before records became MessagePack
/// (schema 14, JSON records; made by `tests/browser/make-store-fixture.mjs`
/// with that release's binary): the server opens it, migrates it, and
/// everything in it reads back through the API, with every record rewritten.
#[tokio::test]
async fn a_store_written_by_the_previous_release_migrates_and_reads_back() {
    use crate::helpers::get_ok;
    use uphill::store::tables::{ALL, AnyTable};
    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v14.redb");
    // The demo password the fixture was seeded with (a throwaway store).
    const PASSWORD: &str = "ce1e2f2399507e87";
    let app = crate::helpers::spawn_app_with(|c| {
        std::fs::create_dir_all(&c.storage.data_dir).unwrap();
        std::fs::copy(FIXTURE, c.storage.data_dir.join("uphill.redb")).unwrap();
    })
    .await;

    let b = app.browser();
    let r = app.login(&b, "asha@uphill.test", PASSWORD).await;
    assert_eq!(r.status(), 200, "the migrated account signs in");
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let asha = app.new_token(&b, &csrf, "after the migration").await;
    let get = |path: String| {
        let (app, asha) = (&app, &asha);
        async move { get_ok(app, asha, &path).await }
    };
    let orders = get("/api/v1/orders".into()).await;
    let order = &orders["items"][0];
    assert_eq!(orders["items"].as_array().unwrap().len(), 1, "{orders}");
    assert_eq!(order["display_id"], "UP-VJ6U4");
    assert_eq!(order["status"], "NEW");
    assert_eq!(order["items"][0]["quantity"], 2);
    let shop = get(format!(
        "/api/v1/shops/{}",
        order["shop_id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(shop["name"], "Squeeze Juice Bar");
    let id = order["id"].as_str().unwrap();
    let chat = get(format!("/api/v1/orders/{id}/messages")).await;
    assert_eq!(chat["items"][0]["body"], "Ring twice, please", "{chat}");
    let favs = get("/api/v1/me/favorites".into()).await;
    assert_eq!(favs["items"].as_array().map(Vec::len), Some(1), "{favs}");

    // Every record was rewritten (version byte 1) and decodes as its type.
    let (records, json_left) = app
        .state
        .store
        .read(|txn| {
            let (mut records, mut json_left) = (0, 0);
            let mut look = |bytes: &[u8], check: fn(&[u8]) -> Result<(), StoreError>| {
                records += 1;
                if bytes.first() != Some(&1) {
                    json_left += 1;
                }
                check(bytes)
            };
            for t in ALL {
                match *t {
                    AnyTable::Records(def, check) => {
                        for e in txn.open_table(def)?.iter()? {
                            look(e?.1.value(), check)?;
                        }
                    }
                    AnyTable::U64Records(def, check) => {
                        for e in txn.open_table(def)?.iter()? {
                            look(e?.1.value(), check)?;
                        }
                    }
                    _ => {}
                }
            }
            Ok::<_, StoreError>((records, json_left))
        })
        .await
        .unwrap();
    assert!(
        records > 100,
        "the fixture holds the demo campus: {records}"
    );
    assert_eq!(json_left, 0, "of {records} records");
}
