//! Checkpoints of the embedded store's write-ahead log, off the writer's path.
//!
//! SQLite's automatic checkpoint runs inside the commit that fills the log past 1,000
//! pages: that commit copies the log into the database file and syncs it, and every
//! change of its group waits the 8 to 10 ms this takes under load. The write connection
//! therefore has automatic checkpoints off, and a thread of this module's runs a passive
//! checkpoint on a connection of its own every [`EVERY`]: it copies what no reader still
//! needs while the writer goes on (WAL lets both run at once), and the writer starts the
//! log over once all of it is in the database. A last checkpoint runs when the store is
//! dropped.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::ports::StoreError;

/// How often the log is checkpointed.
const EVERY: Duration = Duration::from_millis(200);

/// Keeps the checkpoint thread running; dropping the last clone stops it.
#[derive(Clone)]
pub struct Checkpoints {
    _stop: mpsc::Sender<()>,
}

impl Checkpoints {
    /// Starts checkpointing the WAL database at `path`.
    pub fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = open(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let path: PathBuf = path.to_owned();
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    checkpoint(&conn, &path);
                }
                checkpoint(&conn, &path);
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the checkpoints: {e}")))?;
        Ok(Self { _stop: stop })
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let cannot = |e: rusqlite::Error| StoreError::Unavailable(format!("the database cannot be opened: {e}"));
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(cannot)?;
    conn.busy_timeout(Duration::from_secs(2)).map_err(cannot)?;
    Ok(conn)
}

/// One passive checkpoint; a failure is logged and the next one tries again.
fn checkpoint(conn: &Connection, path: &Path) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
    if let Err(e) = done {
        tracing::warn!(error = %e, path = %path.display(), "the database's log could not be checkpointed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With automatic checkpoints off, what is committed reaches the database file only
    /// through the checkpoint thread.
    #[test]
    fn committed_pages_reach_the_database_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let writer = Connection::open(&path).expect("create");
        writer
            .execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t (x BLOB);")
            .expect("schema");
        let before = std::fs::metadata(&path).expect("db").len();
        for _ in 0..50 {
            writer.execute("INSERT INTO t VALUES (zeroblob(4000))", []).expect("insert");
        }
        assert_eq!(std::fs::metadata(&path).expect("db").len(), before, "nothing checkpointed yet");
        let checkpoints = Checkpoints::start(&path).expect("start");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&path).expect("db").len() < before + 50 * 4000 {
            assert!(std::time::Instant::now() < deadline, "the rows never reached the database file");
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(checkpoints);
        let n: i64 = writer.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 50);
    }
}
