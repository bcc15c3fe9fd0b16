//! The backup file's format (see `cli/backup.rs` for the table of its members): a POSIX
//! ustar archive written and read here, member by member, with every byte checked on the
//! way in. Must not touch the store or decide what to restore where.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::Failure;
use crate::store::backup::Contents;

/// What the manifest's `format` says.
pub const FORMAT: &str = "propusk-backup";
/// The archive layout this binary writes and reads.
pub const FORMAT_VERSION: u32 = 1;

pub(super) const MANIFEST: &str = "manifest.json";
pub(super) const DATABASE: &str = "propusk.db";
pub(super) const MASTER_KEY: &str = "master.key";
pub(super) const SUMS: &str = "SHA256SUMS";
const BLOCK: usize = 512;
/// The largest member a ustar header's 11 octal digits can size.
const MAX_MEMBER: u64 = 0o777_7777_7777;
/// Members other than the database are small; anything larger is not a backup of ours.
const MAX_SMALL: u64 = 1 << 20;

/// The archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub propusk_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub store: String,
    pub contents: Contents,
    /// Where the parts came from (for the person restoring).
    pub database_path: String,
    pub master_key_path: String,
    pub policies: PoliciesDigest,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoliciesDigest {
    pub dir: String,
    /// `Policies::digest` of the directory when the backup was made; `None` when it did
    /// not load (`problem` says why).
    pub digest: Option<String>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(super) fn digest_file(path: &Path) -> Result<(u64, String), Failure> {
    let mut f = BufReader::new(File::open(path).map_err(|e| Failure::io("read", path, &e))?);
    let mut h = Sha256::new();
    let size = std::io::copy(&mut f, &mut HashWriter(&mut h)).map_err(|e| Failure::io("read", path, &e))?;
    Ok((size, hex::encode(h.finalize())))
}

/// A `Write` that only hashes.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn write_archive(
    path: &Path,
    manifest: &[u8],
    db: &Path,
    db_part: &Part,
    key: &[u8],
    sums: &[u8],
) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::io("write", path, &e);
    let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    let mut out = BufWriter::new(file);
    let mtime = chrono::Utc::now().timestamp().max(0).unsigned_abs();
    write_member(&mut out, MANIFEST, manifest, mtime).map_err(io)?;
    if db_part.size > MAX_MEMBER {
        return Err(Failure::new(1, "the database is larger than a backup member can be (8 GiB)"));
    }
    out.write_all(&header(DATABASE, db_part.size, mtime)).map_err(io)?;
    let mut h = Sha256::new();
    let mut src = File::open(db).map_err(|e| Failure::io("read", db, &e))?;
    let copied = std::io::copy(&mut (&mut src).take(db_part.size), &mut Tee(&mut out, &mut h)).map_err(io)?;
    if copied != db_part.size || hex::encode(h.finalize()) != db_part.sha256 {
        return Err(Failure::new(1, "the database copy changed while it was being written"));
    }
    pad(&mut out, copied).map_err(io)?;
    write_member(&mut out, MASTER_KEY, key, mtime).map_err(io)?;
    write_member(&mut out, SUMS, sums, mtime).map_err(io)?;
    out.write_all(&[0; 2 * BLOCK]).map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// Writes to a file and a hash at once.
struct Tee<'a, W: Write>(&'a mut W, &'a mut Sha256);

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn write_member(out: &mut impl Write, name: &str, data: &[u8], mtime: u64) -> std::io::Result<()> {
    out.write_all(&header(name, data.len() as u64, mtime))?;
    out.write_all(data)?;
    pad(out, data.len() as u64)
}

fn pad(out: &mut impl Write, size: u64) -> std::io::Result<()> {
    let rest = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
    out.write_all(&[0; BLOCK][..rest])
}

/// A ustar header (POSIX.1-1988) of a regular file, mode 0600.
fn header(name: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o600);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum = checksum(&h);
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let text = format!("{v:0digits$o}");
    let text = &text.as_bytes()[text.len().saturating_sub(digits)..];
    field[..digits].copy_from_slice(text);
    field[digits] = 0;
}

/// The header's checksum: the sum of its bytes with the checksum field read as spaces.
fn checksum(h: &[u8; BLOCK]) -> u32 {
    h.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum()
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_matches(|c| c == '\0' || c == ' ');
    if text.is_empty() {
        return None;
    }
    u64::from_str_radix(text, 8).ok()
}

/// What reading a backup found, all of it checked.
pub(super) struct Verified {
    pub(super) manifest: Manifest,
    pub(super) key: Vec<u8>,
}

/// Reads the whole archive and checks every byte of it (see the module's table). With
/// `extract`, the database member is also written there (a new file, mode 0600).
pub(super) fn read_archive(file: &Path, extract: Option<&Path>) -> Result<Verified, Failure> {
    let f = File::open(file).map_err(|e| Failure::io("read", file, &e))?;
    let total = f.metadata().map_err(|e| Failure::io("read", file, &e))?.len();
    let mut r = Reader { inner: BufReader::new(f), file, total, at: 0 };

    let (manifest_bytes, manifest_sha) = r.small(MANIFEST)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| Failure::damaged(file, format!("its manifest cannot be read ({e})")))?;
    if manifest.format != FORMAT {
        return Err(Failure::damaged(file, format!("its manifest is not a {FORMAT} one")));
    }
    if manifest.format_version != FORMAT_VERSION {
        return Err(Failure::new(
            2,
            format!(
                "{} is a backup of format {} and this propusk reads format {FORMAT_VERSION}: restore it with propusk {}",
                file.display(),
                manifest.format_version,
                manifest.propusk_version
            ),
        ));
    }
    let want = |name: &str| manifest.parts.iter().find(|p| p.name == name).cloned();
    let (Some(db_part), Some(key_part), 2) = (want(DATABASE), want(MASTER_KEY), manifest.parts.len()) else {
        return Err(Failure::damaged(file, "its manifest does not list the database and the master key"));
    };

    let size = r.member_header(DATABASE)?;
    if size != db_part.size {
        return Err(Failure::damaged(
            file,
            format!("the database is {size} bytes and the manifest says {}", db_part.size),
        ));
    }
    let mut h = Sha256::new();
    match extract {
        Some(to) => {
            let out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(to)
                .map_err(|e| Failure::io("write", to, &e))?;
            let mut out = BufWriter::new(out);
            r.data(size, &mut Tee(&mut out, &mut h))?;
            let out = out.into_inner().map_err(|e| Failure::io("write", to, e.error()))?;
            out.sync_all().map_err(|e| Failure::io("write", to, &e))?;
        }
        None => r.data(size, &mut HashWriter(&mut h))?,
    }
    let db_sha = hex::encode(h.finalize());
    if db_sha != db_part.sha256 {
        return Err(Failure::damaged(file, "the database's SHA-256 is not the one in the manifest"));
    }

    let (key, key_sha) = r.small(MASTER_KEY)?;
    if key.len() as u64 != key_part.size || key_sha != key_part.sha256 {
        return Err(Failure::damaged(file, "the master key's SHA-256 is not the one in the manifest"));
    }
    let (sums, _) = r.small(SUMS)?;
    let expected = format!("{manifest_sha}  {MANIFEST}\n{db_sha}  {DATABASE}\n{key_sha}  {MASTER_KEY}\n");
    if sums != expected.as_bytes() {
        return Err(Failure::damaged(file, format!("{SUMS} does not match the members (the manifest was changed)")));
    }
    r.end()?;
    Ok(Verified { manifest, key })
}

/// Reads members in order, with the position for messages.
struct Reader<'a> {
    inner: BufReader<File>,
    file: &'a Path,
    total: u64,
    at: u64,
}

impl Reader<'_> {
    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), Failure> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.at += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Failure::damaged(
                self.file,
                format!("it is truncated: it ends after {} bytes, inside {what}", self.total),
            )),
            Err(e) => Err(Failure::io("read", self.file, &e)),
        }
    }

    /// The next header, which must be the member `name`'s; returns its size.
    fn member_header(&mut self, name: &str) -> Result<u64, Failure> {
        let mut h = [0u8; BLOCK];
        self.exact(&mut h, &format!("the header of {name}"))?;
        let at = self.at - BLOCK as u64;
        let bad = |why: &str| Failure::damaged(self.file, format!("the header of {name} at byte {at} {why}"));
        if parse_octal(&h[148..156]) != Some(u64::from(checksum(&h))) {
            return Err(bad("fails its checksum"));
        }
        let end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
        if &h[..end] != name.as_bytes() || &h[257..265] != b"ustar\x0000" || h[156] != b'0' {
            return Err(bad("is not the one expected there"));
        }
        parse_octal(&h[124..136]).ok_or_else(|| bad("has no size"))
    }

    /// A member's data and its padding (zeros), copied to `out`.
    fn data(&mut self, size: u64, out: &mut impl Write) -> Result<(), Failure> {
        let what = "the data of a member";
        let mut left = size;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            self.exact(&mut buf[..n], what)?;
            out.write_all(&buf[..n]).map_err(|e| Failure::new(1, format!("cannot write the database: {e}")))?;
            left -= n as u64;
        }
        let rest = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        let mut padding = [0u8; BLOCK];
        self.exact(&mut padding[..rest], what)?;
        if padding.iter().any(|&b| b != 0) {
            return Err(Failure::damaged(self.file, format!("the padding before byte {} is not zeros", self.at)));
        }
        Ok(())
    }

    /// A small member, whole, with its SHA-256.
    fn small(&mut self, name: &str) -> Result<(Vec<u8>, String), Failure> {
        let size = self.member_header(name)?;
        if size > MAX_SMALL {
            return Err(Failure::damaged(self.file, format!("its {name} is {size} bytes long")));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        self.data(size, &mut data)?;
        let sha = sha256_hex(&data);
        Ok((data, sha))
    }

    /// The end: two zero blocks and nothing after them.
    fn end(&mut self) -> Result<(), Failure> {
        let mut zeros = [0u8; 2 * BLOCK];
        self.exact(&mut zeros, "its end marker")?;
        let mut after = [0u8; 1];
        let extra = self.inner.read(&mut after).map_err(|e| Failure::io("read", self.file, &e))?;
        if zeros.iter().any(|&b| b != 0) || extra != 0 {
            return Err(Failure::damaged(self.file, "its end is not the two zero blocks a backup ends with"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_what_tar_writes_and_reads_back() {
        let h = header("manifest.json", 1234, 1_700_000_000);
        assert_eq!(parse_octal(&h[124..136]), Some(1234));
        assert_eq!(parse_octal(&h[148..156]), Some(u64::from(checksum(&h))));
        assert_eq!(&h[..13], b"manifest.json");
        assert_eq!(&h[257..265], b"ustar\x0000");
    }

    /// The archive is a tar that the system's `tar` lists and extracts, and
    /// `sha256sum -c SHA256SUMS` passes on what it extracts.
    #[test]
    fn the_system_tar_and_sha256sum_accept_a_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        std::fs::write(&db, vec![7u8; 1500]).expect("write");
        let (size, sha) = digest_file(&db).expect("digest");
        let part = Part { name: DATABASE.into(), size, sha256: sha.clone() };
        let manifest = b"{}".to_vec();
        let key = b"a2V5".to_vec();
        let sums =
            format!("{}  {MANIFEST}\n{sha}  {DATABASE}\n{}  {MASTER_KEY}\n", sha256_hex(&manifest), sha256_hex(&key));
        let file = dir.path().join("b.tar");
        write_archive(&file, &manifest, &db, &part, &key, sums.as_bytes()).expect("write");
        let out = std::process::Command::new("tar").arg("-tf").arg(&file).output().expect("tar");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "manifest.json\npropusk.db\nmaster.key\nSHA256SUMS\n");
        let x = dir.path().join("x");
        std::fs::create_dir(&x).expect("mkdir");
        let out = std::process::Command::new("tar").arg("-xf").arg(&file).current_dir(&x).output().expect("tar");
        assert!(out.status.success());
        let out = std::process::Command::new("sha256sum").args(["-c", SUMS]).current_dir(&x).output().expect("sum");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o600);
    }
}
