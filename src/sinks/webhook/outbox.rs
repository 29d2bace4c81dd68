//! The durable outbox of one webhook sink: an append-only log in `<dir>/outbox.log`, a
//! lock file and the dead-letter file `<dir>/dead.jsonl`.
//!
//! Log records are framed `MAGIC (4) | len u32 LE | crc32 u32 LE | payload (JSON)`:
//! `enqueue` (everything needed to send: ids, stream, rendered body, creation time),
//! `delivered {id}` and `dead {id, error}`. An `enqueue` is fsync'd before anyone may
//! send it; `delivered` is written at once but fsync'd lazily (with the next `enqueue`,
//! at close, or at compaction): losing one to a power cut means a re-delivery, which
//! the `Idempotency-Key` makes harmless, never a loss. A process kill (-9) loses nothing
//! written: the data is in the page cache.
//!
//! Recovery reads records until the end; a torn tail (partial frame, bad CRC at the end)
//! is cut off, a damaged record in the middle is skipped by resynchronising on the next
//! magic. Compaction rewrites the live `enqueue` records to `outbox.log.tmp`, fsyncs it,
//! renames it over the log and fsyncs the directory: at every instant one of the two
//! files is complete.
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::sinks::SinkError;

const MAGIC: &[u8; 4] = b"RVo1";
const HEADER: usize = 12;
/// Larger frames are treated as damage (a body is a few kB).
const MAX_RECORD: usize = 64 << 20;
pub const LOG_FILE: &str = "outbox.log";
pub const LOCK_FILE: &str = "outbox.lock";
pub const DEAD_FILE: &str = "dead.jsonl";

/// One pending delivery, as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// Position in this outbox (increasing; orders deliveries within a stream).
    pub id: u64,
    pub event_id: String,
    /// `Idempotency-Key` header: the same on every attempt, restart and replay.
    pub key: String,
    pub stream: String,
    /// Unix milliseconds when the event entered the outbox (for `retry.max_age_s`).
    pub created_ms: u64,
    /// The rendered payload (JSON text), exactly as POSTed.
    pub body: String,
}

/// What an `enqueue` needs (the id and time are assigned by the outbox).
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub event_id: String,
    pub key: String,
    pub stream: String,
    pub body: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Record {
    Enqueue(Stored),
    Delivered { id: u64 },
    Dead { id: u64, error: String },
}

/// One line of `dead.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub event_id: String,
    pub idempotency_key: String,
    pub stream: String,
    /// The payload as it was POSTed (exact text; parse it for the event fields).
    pub body: String,
    pub last_error: String,
    /// `rejected` (non-retryable answer), `max_attempts`, `max_age` or `outbox_full`.
    pub reason: String,
    pub attempts: u32,
    /// RFC 3339 UTC; empty when never attempted.
    pub first_attempt: String,
    pub last_attempt: String,
    pub created: String,
    pub dead_at: String,
}

/// What recovery found.
#[derive(Debug, Default, Clone)]
pub struct Recovery {
    pub records: u64,
    pub live: usize,
    /// Bytes cut off the end (an interrupted write).
    pub torn_bytes: u64,
    /// Damaged records skipped in the middle of the log.
    pub corrupt: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// RFC 3339 of Unix milliseconds.
pub fn rfc3339_ms(ms: u64) -> String {
    crate::events::rfc3339_utc(UNIX_EPOCH + std::time::Duration::from_millis(ms))
}

/// The open outbox (exclusively locked).
pub struct Outbox {
    dir: PathBuf,
    file: File,
    _lock: File,
    live: BTreeMap<u64, Arc<Stored>>,
    next_id: u64,
    /// Records in the file (live or not): compaction when mostly garbage.
    records: u64,
    dirty: bool,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("dir", &self.dir).field("live", &self.live.len()).finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
    move |e| SinkError::io(path, e)
}

impl Outbox {
    /// Opens (creating) the outbox in `dir`, takes its lock and recovers the log. The
    /// live entries come back in id order.
    pub fn open(dir: &Path) -> Result<(Outbox, Vec<Arc<Stored>>, Recovery), SinkError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock = lock_dir(dir)?;
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io(&path))?;
        let scan = scan(&bytes);
        if scan.torn_bytes > 0 {
            file.set_len(scan.valid_len).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        let rec = Recovery {
            records: scan.records,
            live: scan.live.len(),
            torn_bytes: scan.torn_bytes,
            corrupt: scan.corrupt,
        };
        let next_id = scan.max_id + 1;
        let live: BTreeMap<u64, Arc<Stored>> = scan.live.into_iter().map(|(id, s)| (id, Arc::new(s))).collect();
        let mut ob =
            Outbox { dir: dir.to_owned(), file, _lock: lock, live, next_id, records: scan.records, dirty: false };
        if rec.corrupt > 0 || ob.records > ob.live.len() as u64 {
            ob.compact()?;
        }
        let live = ob.live.values().cloned().collect();
        Ok((ob, live, rec))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Live (undelivered, not dead) entries.
    pub fn depth(&self) -> usize {
        self.live.len()
    }

    /// Persists entries (one fsync for all) and returns them with their ids.
    pub fn enqueue(&mut self, entries: Vec<NewEntry>) -> Result<Vec<Arc<Stored>>, SinkError> {
        let created_ms = now_ms();
        let mut buf = Vec::new();
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let s = Stored {
                id: self.next_id,
                event_id: e.event_id,
                key: e.key,
                stream: e.stream,
                created_ms,
                body: e.body,
            };
            self.next_id += 1;
            frame(&Record::Enqueue(s.clone()), &mut buf);
            out.push(Arc::new(s));
        }
        self.write(&buf)?;
        self.sync()?;
        for s in &out {
            self.live.insert(s.id, s.clone());
        }
        self.records += out.len() as u64;
        Ok(out)
    }

    /// Marks an entry delivered (fsync'd lazily, see the module docs).
    pub fn delivered(&mut self, id: u64) -> Result<(), SinkError> {
        let mut buf = Vec::new();
        frame(&Record::Delivered { id }, &mut buf);
        self.write(&buf)?;
        self.dirty = true;
        self.live.remove(&id);
        self.records += 1;
        self.maybe_compact()
    }

    /// Writes the dead letter (fsync'd) and then marks the entry dead in the log. A crash
    /// in between re-sends the entry at the next start (it may be dead-lettered twice).
    pub fn dead(&mut self, id: Option<u64>, letter: &DeadLetter) -> Result<(), SinkError> {
        append_dead_letters(&self.dir, std::slice::from_ref(letter))?;
        if let Some(id) = id {
            let mut buf = Vec::new();
            frame(&Record::Dead { id, error: letter.last_error.clone() }, &mut buf);
            self.write(&buf)?;
            self.dirty = true;
            self.live.remove(&id);
            self.records += 1;
            self.maybe_compact()?;
        }
        Ok(())
    }

    /// fsyncs pending `delivered`/`dead` marks.
    pub fn sync(&mut self) -> Result<(), SinkError> {
        let path = self.dir.join(LOG_FILE);
        self.file.sync_data().map_err(io(&path))?;
        self.dirty = false;
        Ok(())
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), SinkError> {
        let path = self.dir.join(LOG_FILE);
        self.file.write_all(buf).map_err(io(&path))
    }

    fn maybe_compact(&mut self) -> Result<(), SinkError> {
        let garbage = self.records - self.live.len() as u64;
        if garbage >= 4096 && garbage >= 2 * self.live.len() as u64 {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the live entries to a temporary file, fsyncs, renames it over the log.
    pub fn compact(&mut self) -> Result<(), SinkError> {
        let path = self.dir.join(LOG_FILE);
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        let mut buf = Vec::new();
        for s in self.live.values() {
            frame(&Record::Enqueue((**s).clone()), &mut buf);
        }
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&buf).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&self.dir)?;
        let mut file = OpenOptions::new().read(true).append(true).open(&path).map_err(io(&path))?;
        file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        self.file = file;
        self.records = self.live.len() as u64;
        self.dirty = false;
        Ok(())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.dirty {
            let _ = self.file.sync_data();
        }
    }
}

fn frame(r: &Record, out: &mut Vec<u8>) {
    let payload = serde_json::to_vec(r).expect("records serialise");
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

struct Scan {
    live: BTreeMap<u64, Stored>,
    records: u64,
    max_id: u64,
    valid_len: u64,
    torn_bytes: u64,
    corrupt: u64,
}

/// One frame at `at`: `Ok(Some((record, next)))`, `Ok(None)` when incomplete (the end),
/// `Err(())` when damaged.
fn parse_at(b: &[u8], at: usize) -> Result<Option<(Record, usize)>, ()> {
    if b.len() - at < HEADER {
        return if b[at..].iter().zip(MAGIC.iter()).all(|(x, y)| x == y) { Ok(None) } else { Err(()) };
    }
    if &b[at..at + 4] != MAGIC {
        return Err(());
    }
    let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap());
    if len > MAX_RECORD {
        return Err(());
    }
    let end = at + HEADER + len;
    if end > b.len() {
        return Ok(None);
    }
    let payload = &b[at + HEADER..end];
    if crc32fast::hash(payload) != crc {
        return Err(());
    }
    serde_json::from_slice(payload).map(|r| Some((r, end))).map_err(|_| ())
}

fn scan(b: &[u8]) -> Scan {
    let mut s = Scan { live: BTreeMap::new(), records: 0, max_id: 0, valid_len: 0, torn_bytes: 0, corrupt: 0 };
    let mut at = 0;
    while at < b.len() {
        match parse_at(b, at) {
            Ok(Some((r, next))) => {
                s.records += 1;
                match r {
                    Record::Enqueue(st) => {
                        s.max_id = s.max_id.max(st.id);
                        s.live.insert(st.id, st);
                    }
                    Record::Delivered { id } | Record::Dead { id, .. } => {
                        s.live.remove(&id);
                    }
                }
                at = next;
                s.valid_len = at as u64;
            }
            Ok(None) => break,
            Err(()) => {
                // Resynchronise on the next frame that parses; none = a torn tail.
                let mut probe = at + 1;
                let resync = loop {
                    match b[probe.min(b.len())..].windows(4).position(|w| w == MAGIC) {
                        None => break None,
                        Some(i) => {
                            let cand = probe + i;
                            if let Ok(Some(_)) = parse_at(b, cand) {
                                break Some(cand);
                            }
                            probe = cand + 1;
                        }
                    }
                };
                match resync {
                    Some(next) => {
                        s.corrupt += 1;
                        at = next;
                    }
                    None => break,
                }
            }
        }
    }
    s.torn_bytes = b.len() as u64 - s.valid_len;
    s
}

/// Takes the outbox lock (`flock`, released by the kernel when the process dies).
fn lock_dir(dir: &Path) -> Result<File, SinkError> {
    let path = dir.join(LOCK_FILE);
    let mut f =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io(&path))?;
    // SAFETY: flock on a file descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let mut holder = String::new();
        let _ = f.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
        return Err(SinkError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::WouldBlock, format!("outbox is in use by another process{who}")),
        ));
    }
    let _ = f.set_len(0).and_then(|_| f.write_all(std::process::id().to_string().as_bytes()));
    Ok(f)
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Appends dead letters to `<dir>/dead.jsonl` and fsyncs.
pub fn append_dead_letters(dir: &Path, letters: &[DeadLetter]) -> Result<(), SinkError> {
    let path = dir.join(DEAD_FILE);
    let mut buf = Vec::new();
    for l in letters {
        serde_json::to_writer(&mut buf, l).expect("dead letters serialise");
        buf.push(b'\n');
    }
    let mut f = OpenOptions::new().append(true).create(true).open(&path).map_err(io(&path))?;
    f.write_all(&buf).and_then(|_| f.sync_data()).map_err(io(&path))
}

/// Reads `<dir>/dead.jsonl` (missing = none). Unparseable lines (a torn last line) are
/// skipped and counted.
pub fn read_dead_letters(dir: &Path) -> Result<(Vec<DeadLetter>, usize), SinkError> {
    let path = dir.join(DEAD_FILE);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(SinkError::io(&path, e)),
    };
    let (mut out, mut bad) = (Vec::new(), 0);
    for line in BufReader::new(f).lines() {
        let line = line.map_err(io(&path))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(d) => out.push(d),
            Err(_) => bad += 1,
        }
    }
    Ok((out, bad))
}

/// A read-only look at an outbox (no lock: safe while a pipeline runs).
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub depth: usize,
    pub oldest_created_ms: Option<u64>,
    pub streams: BTreeMap<String, usize>,
    pub dead_letters: usize,
    pub log_bytes: u64,
    pub torn_bytes: u64,
    pub corrupt: u64,
    /// Whether a process holds the outbox now.
    pub locked: bool,
}

pub fn status(dir: &Path) -> Result<Status, SinkError> {
    if !dir.exists() {
        return Ok(Status::default()); // nothing was ever queued
    }
    if !dir.is_dir() {
        return Err(SinkError::io(dir, std::io::Error::other("not a directory")));
    }
    let path = dir.join(LOG_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(SinkError::io(&path, e)),
    };
    let s = scan(&bytes);
    let mut st = Status {
        depth: s.live.len(),
        oldest_created_ms: s.live.values().map(|e| e.created_ms).min(),
        log_bytes: bytes.len() as u64,
        torn_bytes: s.torn_bytes,
        corrupt: s.corrupt,
        dead_letters: read_dead_letters(dir)?.0.len(),
        locked: is_locked(dir),
        ..Status::default()
    };
    for e in s.live.values() {
        *st.streams.entry(e.stream.clone()).or_default() += 1;
    }
    Ok(st)
}

fn is_locked(dir: &Path) -> bool {
    let Ok(f) = File::open(dir.join(LOCK_FILE)) else { return false };
    // SAFETY: flock on a file descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if r == 0 {
        // SAFETY: as above.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        false
    } else {
        true
    }
}

/// Moves the dead letters into the outbox as fresh deliveries (same event id and
/// idempotency key) and renames `dead.jsonl` to `dead.replayed-<unix ms>.jsonl`.
/// Returns how many were re-queued. Needs the outbox open (locked).
pub fn requeue_dead_letters(ob: &mut Outbox) -> Result<Vec<Arc<Stored>>, SinkError> {
    let dir = ob.dir().to_owned();
    let (letters, _bad) = read_dead_letters(&dir)?;
    if letters.is_empty() {
        return Ok(Vec::new());
    }
    let entries = letters
        .into_iter()
        .map(|d| NewEntry { event_id: d.event_id, key: d.idempotency_key, stream: d.stream, body: d.body })
        .collect();
    let stored = ob.enqueue(entries)?;
    let from = dir.join(DEAD_FILE);
    let to = dir.join(format!("dead.replayed-{}.jsonl", now_ms()));
    std::fs::rename(&from, &to).map_err(io(&from))?;
    sync_dir(&dir)?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u32) -> NewEntry {
        NewEntry {
            event_id: format!("e{i}"),
            key: format!("e{i}-0"),
            stream: format!("cam{}", i % 2),
            body: format!("{{\"n\":{i}}}"),
        }
    }

    #[test]
    fn survives_reopen_torn_tails_and_damage() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("ob");
        {
            let (mut ob, live, rec) = Outbox::open(&dir).unwrap();
            assert!(live.is_empty() && rec.records == 0);
            let s = ob.enqueue((0..5).map(entry).collect()).unwrap();
            ob.delivered(s[1].id).unwrap();
            assert!(Outbox::open(&dir).is_err(), "second opener is locked out");
        }
        let (ob, live, _) = Outbox::open(&dir).unwrap();
        assert_eq!(live.iter().map(|s| s.event_id.as_str()).collect::<Vec<_>>(), ["e0", "e2", "e3", "e4"]);
        drop(ob);
        // A torn tail: half a frame.
        let log = dir.join(LOG_FILE);
        let mut bytes = std::fs::read(&log).unwrap();
        let mut extra = Vec::new();
        frame(&Record::Delivered { id: 3 }, &mut extra);
        bytes.extend_from_slice(&extra[..extra.len() - 3]);
        std::fs::write(&log, &bytes).unwrap();
        let (mut ob, live, rec) = Outbox::open(&dir).unwrap();
        assert_eq!(live.len(), 4);
        assert_eq!(rec.torn_bytes, extra.len() as u64 - 3);
        let more = ob.enqueue(vec![entry(9)]).unwrap();
        assert!(more[0].id > live.last().unwrap().id, "ids keep increasing");
        drop(ob);
        // Damage in the middle: flip a byte in the second record's payload.
        let mut bytes = std::fs::read(&log).unwrap();
        let second = bytes.windows(4).enumerate().filter(|(_, w)| *w == MAGIC).nth(1).unwrap().0;
        bytes[second + HEADER + 3] ^= 0xff;
        std::fs::write(&log, &bytes).unwrap();
        let (_ob, live, rec) = Outbox::open(&dir).unwrap();
        assert_eq!(rec.corrupt, 1);
        assert_eq!(live.len(), 4, "only the damaged record is lost: {live:?}");
    }

    #[test]
    fn compaction_keeps_live_entries() {
        let t = tempfile::tempdir().unwrap();
        let (mut ob, _, _) = Outbox::open(t.path()).unwrap();
        let s = ob.enqueue((0..10).map(entry).collect()).unwrap();
        for e in &s[..8] {
            ob.delivered(e.id).unwrap();
        }
        ob.compact().unwrap();
        assert_eq!(ob.records, 2);
        drop(ob);
        let (_ob, live, rec) = Outbox::open(t.path()).unwrap();
        assert_eq!(rec.records, 2);
        assert_eq!(live.iter().map(|s| s.id).collect::<Vec<_>>(), [s[8].id, s[9].id]);
        let st = status(t.path()).unwrap();
        assert!(st.locked && st.depth == 2);
    }
}
