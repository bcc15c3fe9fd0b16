//! `propusk backup` and `propusk restore` for the embedded SQLite store (R-15, D-12).
//! PostgreSQL is backed up with `pg_dump` (`deploy/backup.md`); both commands say so.
//!
//! A backup is one uncompressed POSIX tar (ustar) file, so `tar -xf` opens it by hand in
//! an emergency, with exactly these members in this order:
//!
//! | member | holds |
//! |---|---|
//! | `manifest.json` | format and version, propusk's version, when, the schema version, what the database holds, the policies' digest, and each part's size and SHA-256 |
//! | `propusk.db` | a consistent copy of the database (`VACUUM INTO`, taken while the server runs) |
//! | `master.key` | `keys.master_key_file`: without it the signing keys and second-factor secrets in the copy cannot be read |
//! | `SHA256SUMS` | `sha256sum -c` lines for the three members above |
//!
//! Every byte is covered: the members by their digests, the headers by tar's checksum,
//! padding and the end by being zeros; a restore reads the whole file and checks all of
//! it before it writes anything. The file is written under a temporary name (`….partial`,
//! mode 0600: it holds the master key) and renamed when complete, so a half-written
//! backup never looks like one. The policy files are not in it (they are configuration,
//! kept with `propusk.toml`); their digest is, and a restore says whether the policies
//! in force here are the same.
//!
//! Must not touch SQL (that is `store::backup`) or HTTP.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::config::Config;
use crate::ports::StoreError;
use crate::store::backup::{self as store_backup, Contents, Target};

mod archive;

use archive::{
    DATABASE, MANIFEST, MASTER_KEY, Manifest, Part, PoliciesDigest, Verified, digest_file, read_archive, sha256_hex,
    write_archive,
};
pub use archive::{FORMAT, FORMAT_VERSION};

/// A backup made in a directory is named `propusk-<UTC time>.tar`; `--keep` counts these.
const PREFIX: &str = "propusk-";

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The backup file to write, or an existing directory to write `propusk-<UTC time>.tar` in.
    pub target: PathBuf,
    /// With a directory: keep only this many newest `propusk-*.tar` backups in it (0: keep all).
    #[arg(long, default_value_t = 0)]
    pub keep: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup file (`propusk backup` wrote it).
    pub file: PathBuf,
    /// Restore into this directory instead of the configured places (the file names stay).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Replace a database that holds accounts (it is kept beside, renamed).
    #[arg(long)]
    pub force: bool,
    /// Check the backup and say what it would restore, writing nothing.
    #[arg(long)]
    pub check: bool,
    #[arg(long)]
    pub json: bool,
}

/// Why a command stopped: its exit code and a message for a person.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
    fn io(what: &str, path: &Path, e: &std::io::Error) -> Self {
        Self::new(1, format!("cannot {what} {}: {e}", path.display()))
    }
    /// The backup file is not whole: nothing was written.
    fn damaged(file: &Path, why: impl std::fmt::Display) -> Self {
        Self::new(
            2,
            format!(
                "{} is not a usable backup: {why}. Nothing was restored; take another backup file.",
                file.display()
            ),
        )
    }
    fn store(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(m) => Self::new(2, m),
            other => Self::new(5, other.to_string()),
        }
    }
}

fn finish(outcome: Result<ExitCode, Failure>) -> ExitCode {
    outcome.unwrap_or_else(|f| {
        eprintln!("propusk: {}", f.message);
        ExitCode::from(f.code)
    })
}

pub async fn run_backup(config: &Config, args: BackupArgs) -> ExitCode {
    finish(backup(config, &args).await.map(|(path, manifest)| {
        if args.json {
            super::json(&serde_json::json!({ "file": path.display().to_string(), "manifest": manifest }))
        } else {
            let c = &manifest.contents;
            println!("propusk: backup written to {}", path.display());
            println!(
                "  database   {} bytes, schema {}: {} accounts, {} audit entries, {} journal entries",
                manifest.parts[0].size, c.schema_version, c.accounts, c.audit_entries, c.journal_entries
            );
            println!("  master key {}", manifest.master_key_path);
            match (&manifest.policies.digest, &manifest.policies.problem) {
                (Some(d), _) => println!("  policies   digest {d} (the files are not in the backup)"),
                (None, p) => println!("  policies   did not load: {}", p.as_deref().unwrap_or("")),
            }
            ExitCode::SUCCESS
        }
    }))
}

pub async fn run_restore(config: &Config, args: RestoreArgs) -> ExitCode {
    finish(restore(config, &args).await.map(|report| {
        if args.json {
            super::json(&report)
        } else {
            print_restore(&report, args.check);
            ExitCode::SUCCESS
        }
    }))
}

/// The SQLite database file that `store.url` names, or why there is none to back up.
fn sqlite_path(config: &Config, verb: &str) -> Result<PathBuf, Failure> {
    let url = &config.store_url.0;
    match url.strip_prefix("sqlite:").map(|p| p.trim_start_matches("//")) {
        Some(":memory:") => Err(Failure::new(2, "store.url is an in-memory database: there is nothing to back up")),
        Some(path) => Ok(PathBuf::from(path)),
        None => Err(Failure::new(
            2,
            format!(
                "propusk {verb} handles the embedded SQLite store only, and store.url is PostgreSQL: \
                 use pg_dump -Fc and pg_restore, and keep keys.master_key_file with the dump, \
                 as deploy/backup.md describes"
            ),
        )),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Removes what it names when dropped, unless disarmed: the temporary files of a
/// command that stopped half-way.
struct Leftovers(Vec<PathBuf>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        }
    }
}

/// Makes the backup; returns where it went and its manifest.
pub async fn backup(config: &Config, args: &BackupArgs) -> Result<(PathBuf, Manifest), Failure> {
    let db = sqlite_path(config, "backup")?;
    let key_path = &config.master_key_file;
    let key = read_master_key(key_path)?;
    let (file, in_dir) = if args.target.is_dir() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        (args.target.join(format!("{PREFIX}{stamp}.tar")), true)
    } else {
        if args.keep > 0 {
            return Err(Failure::new(2, "--keep needs a directory to write the backup in"));
        }
        (args.target.clone(), false)
    };
    if file.exists() {
        return Err(Failure::new(4, format!("{} already exists: choose another name", file.display())));
    }
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    let work = PathBuf::from(format!("{}.partial.d", file.display()));
    let mut leftovers = Leftovers(vec![partial.clone(), work.clone()]);
    std::fs::DirBuilder::new().mode(0o700).create(&work).map_err(|e| Failure::io("create", &work, &e))?;
    let copy = work.join(DATABASE);
    let contents = store_backup::sqlite_snapshot(&db, &copy).await.map_err(Failure::store)?;
    let (db_size, db_sha) = digest_file(&copy)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        propusk_version: env!("CARGO_PKG_VERSION").into(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        store: "sqlite".into(),
        contents,
        database_path: absolute(&db).display().to_string(),
        master_key_path: absolute(key_path).display().to_string(),
        policies: policies_digest(&config.policies_dir),
        parts: vec![
            Part { name: DATABASE.into(), size: db_size, sha256: db_sha },
            Part { name: MASTER_KEY.into(), size: key.len() as u64, sha256: sha256_hex(&key) },
        ],
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| Failure::new(1, e.to_string()))?;
    let sums = format!(
        "{}  {MANIFEST}\n{}  {DATABASE}\n{}  {MASTER_KEY}\n",
        sha256_hex(&manifest_json),
        manifest.parts[0].sha256,
        manifest.parts[1].sha256
    );
    write_archive(&partial, &manifest_json, &copy, &manifest.parts[0], &key, sums.as_bytes())?;
    std::fs::rename(&partial, &file).map_err(|e| Failure::io("rename the backup to", &file, &e))?;
    sync_dir(&file)?;
    leftovers.0.retain(|p| p != &partial);
    drop(leftovers);
    if in_dir && args.keep > 0 {
        rotate(&args.target, args.keep)?;
    }
    Ok((file, manifest))
}

fn read_master_key(path: &Path) -> Result<Vec<u8>, Failure> {
    if !path.is_file() {
        return Err(Failure::new(
            2,
            format!(
                "there is no master key at {} (keys.master_key_file): without it the signing keys and \
                 second factors in a backup could not be read",
                path.display()
            ),
        ));
    }
    crate::keys::MasterKey::load_or_create(path).map_err(|e| Failure::new(2, e.to_string()))?;
    std::fs::read(path).map_err(|e| Failure::io("read", path, &e))
}

fn policies_digest(dir: &Path) -> PoliciesDigest {
    let loaded = crate::policy::Policies::load(dir);
    PoliciesDigest {
        dir: absolute(dir).display().to_string(),
        digest: loaded.as_ref().ok().map(|p| p.digest().to_owned()),
        problem: loaded.err().map(|e| e.to_string()),
    }
}

fn sync_dir(file: &Path) -> Result<(), Failure> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Failure::io("sync", dir, &e))
}

/// Removes the oldest `propusk-*.tar` in `dir` beyond the `keep` newest (their names
/// sort by time).
fn rotate(dir: &Path, keep: usize) -> Result<(), Failure> {
    let mut ours: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Failure::io("list", dir, &e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(".tar"))
        })
        .collect();
    ours.sort();
    let extra = ours.len().saturating_sub(keep);
    for old in &ours[..extra] {
        std::fs::remove_file(old).map_err(|e| Failure::io("remove the old backup", old, &e))?;
    }
    Ok(())
}

/// What a restore did (or, with `--check`, would do).
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub file: String,
    pub created_at: String,
    pub propusk_version: String,
    pub contents: Contents,
    pub database: String,
    pub master_key_file: String,
    /// What the database there held, when it held accounts (replaced only with `--force`).
    pub replaces: Option<Contents>,
    /// Files that were there before, kept under new names.
    pub kept: Vec<String>,
    pub policies_in_backup: Option<String>,
    pub policies_here: Option<String>,
    pub policies_same: bool,
    /// Set with `--data-dir`: the keys that point propusk at the restored files.
    pub config: Option<Vec<String>>,
}

pub async fn restore(config: &Config, args: &RestoreArgs) -> Result<RestoreReport, Failure> {
    let (db, key_path) = match &args.data_dir {
        Some(dir) => {
            let db_name = sqlite_path(config, "restore")
                .ok()
                .and_then(|p| p.file_name().map(ToOwned::to_owned))
                .unwrap_or_else(|| DATABASE.into());
            let key_name =
                config.master_key_file.file_name().map(ToOwned::to_owned).unwrap_or_else(|| MASTER_KEY.into());
            (dir.join(db_name), dir.join(key_name))
        }
        None => (sqlite_path(config, "restore")?, config.master_key_file.clone()),
    };
    let file = &args.file;
    // Everything is checked before anything is written.
    let Verified { manifest, key } = read_archive(file, None)?;
    let latest = store_backup::latest_schema_version();
    if manifest.contents.schema_version > latest {
        return Err(Failure::new(
            2,
            format!(
                "{} was made by propusk {} with a newer database schema ({} > {latest}): restore it with that version",
                file.display(),
                manifest.propusk_version,
                manifest.contents.schema_version
            ),
        ));
    }
    let target = store_backup::sqlite_target(&db).await.map_err(Failure::store)?;
    let replaces = match target {
        Target::HasData(there) => Some(there),
        Target::Absent | Target::Empty => None,
    };
    if let (Some(there), false, false) = (replaces, args.force, args.check) {
        return Err(Failure::new(
            4,
            format!(
                "{} already holds {} accounts, {} audit entries and {} journal entries: restoring would replace \
                 them. Nothing was changed; add --force to replace them (the database there is then kept \
                 beside it under a new name)",
                db.display(),
                there.accounts,
                there.audit_entries,
                there.journal_entries
            ),
        ));
    }
    let here = crate::policy::Policies::load(&config.policies_dir).ok().map(|p| p.digest().to_owned());
    let old_key = std::fs::read(&key_path).ok();
    let mut report = RestoreReport {
        file: absolute(file).display().to_string(),
        created_at: manifest.created_at.clone(),
        propusk_version: manifest.propusk_version.clone(),
        contents: manifest.contents,
        database: absolute(&db).display().to_string(),
        master_key_file: absolute(&key_path).display().to_string(),
        replaces,
        kept: Vec::new(),
        policies_same: here.is_some() && here == manifest.policies.digest,
        policies_in_backup: manifest.policies.digest.clone(),
        policies_here: here,
        config: args.data_dir.as_ref().map(|_| {
            vec![
                format!("store.url = \"sqlite:{}\"", absolute(&db).display()),
                format!("keys.master_key_file = \"{}\"", absolute(&key_path).display()),
            ]
        }),
    };
    if args.check {
        return Ok(report);
    }

    for dir in [&db, &key_path].iter().filter_map(|p| p.parent().filter(|d| !d.as_os_str().is_empty())) {
        std::fs::create_dir_all(dir).map_err(|e| Failure::io("create", dir, &e))?;
    }
    let tmp = |p: &Path, what: &str| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        p.with_file_name(format!(".{name}.restoring-{}{what}", std::process::id()))
    };
    let db_tmp = tmp(&db, "");
    let key_tmp = tmp(&key_path, ".key");
    let leftovers = Leftovers(vec![db_tmp.clone(), key_tmp.clone()]);
    // The file is read again as it is written out: it must still be the one checked.
    let again = read_archive(file, Some(&db_tmp))?;
    if again.manifest.parts != manifest.parts || again.key != key {
        return Err(Failure::damaged(file, "it changed while it was being restored"));
    }
    let restored = store_backup::sqlite_check(&db_tmp).await.map_err(Failure::store)?;
    if restored != manifest.contents {
        return Err(Failure::damaged(file, "the database does not hold what its manifest says"));
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_tmp)
        .map_err(|e| Failure::io("write", &key_tmp, &e))?;
    out.write_all(&key).and_then(|()| out.sync_all()).map_err(|e| Failure::io("write", &key_tmp, &e))?;

    // From here on the configured files change.
    if target != Target::Absent {
        store_backup::sqlite_claim(&db).await.map_err(Failure::store)?;
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = |p: &Path| PathBuf::from(format!("{}.before-restore-{stamp}", p.display()));
    if matches!(target, Target::HasData(_)) {
        std::fs::rename(&db, aside(&db)).map_err(|e| Failure::io("keep aside", &db, &e))?;
        report.kept.push(absolute(&aside(&db)).display().to_string());
    }
    for suffix in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    if old_key.as_ref().is_some_and(|old| old != &key) {
        std::fs::rename(&key_path, aside(&key_path)).map_err(|e| Failure::io("keep aside", &key_path, &e))?;
        report.kept.push(absolute(&aside(&key_path)).display().to_string());
    }
    std::fs::rename(&key_tmp, &key_path).map_err(|e| Failure::io("write", &key_path, &e))?;
    std::fs::rename(&db_tmp, &db).map_err(|e| Failure::io("write", &db, &e))?;
    sync_dir(&key_path)?;
    sync_dir(&db)?;
    drop(leftovers);
    Ok(report)
}

fn print_restore(r: &RestoreReport, check: bool) {
    let c = &r.contents;
    if check {
        println!("propusk: {} is a whole backup made {} by propusk {}", r.file, r.created_at, r.propusk_version);
        println!("  it would restore the database to {} and the master key to {}", r.database, r.master_key_file);
        if let Some(there) = &r.replaces {
            println!("  the database there holds {} accounts: replacing it needs --force", there.accounts);
        }
    } else {
        println!("propusk: restored the backup made {} by propusk {}", r.created_at, r.propusk_version);
        println!("  database   {}", r.database);
        println!("  master key {}", r.master_key_file);
    }
    println!(
        "  schema {}: {} accounts, {} audit entries, {} journal entries",
        c.schema_version, c.accounts, c.audit_entries, c.journal_entries
    );
    for k in &r.kept {
        println!("  kept the previous file as {k}");
    }
    match (&r.policies_in_backup, &r.policies_here, r.policies_same) {
        (_, _, true) => println!("  policies   the same as when the backup was made"),
        (Some(then), Some(now), false) => {
            println!("  policies   DIFFERENT: digest {then} in the backup, {now} here (policies.dir)")
        }
        (then, now, false) => println!(
            "  policies   cannot compare: backup {}, here {}",
            then.as_deref().unwrap_or("did not load"),
            now.as_deref().unwrap_or("does not load")
        ),
    }
    if let Some(keys) = &r.config {
        println!("  point propusk at them with:");
        for k in keys {
            println!("    {k}");
        }
    }
    if !check {
        println!("Start propusk, then run `propusk audit verify` to check the journals' chains.");
    }
}
