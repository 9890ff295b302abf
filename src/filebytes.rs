//! A command's input bytes: read into a wiped buffer, or, for a large file that `encrypt` or
//! `decrypt` reads once, mapped from the system's page cache.
//!
//! Reading a file copies it into fresh memory, and fresh memory costs a page fault per 4 KiB
//! (zeroed by the kernel first): 0.64-0.84 ms for the 1.5 MB of a 10,000-value JSON file to
//! decrypt, against 0.09-0.13 ms to map it, whose pages are the cache's own, mapped 16 at a
//! fault (twenty-third round, docs/performance.md). A mapping keeps no copy of the file: the
//! bytes stay where the system already holds them (an encryption's plaintext input is in the
//! page cache whether it is read or mapped), so there is nothing of sepal's own to wipe. A
//! mapping's pages can be given back behind a pass over it ([`FileBytes::release_before`]): a
//! decryption's walk and splice read the input in file order, and a 200,000-value JSON file's
//! 32 MiB then stay resident only while it is read.
//!
//! The file must not change while it is mapped. A file written in place by another process
//! during the run may give sepal bytes that change under it (the output check then fails, or the
//! reading does), and one truncated may end the run with SIGBUS. Only `encrypt` and `decrypt`
//! map their input, which they hold for the run's few milliseconds and which leave no plaintext
//! on disk when they stop (their output file is written after the input's last reading); sepal
//! itself replaces files by renaming a new one over them, which leaves a mapping whole.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::wipe::Wiped;

/// Files at least this large are mapped when asked: below it, mapping and unmapping cost about
/// what the copy's page faults do.
pub const MAP_MIN: u64 = 128 * 1024;

/// Bytes read from a file or standard input, or a file's mapping.
pub enum FileBytes {
    Read(Wiped<Vec<u8>>),
    Mapped(Mapping),
}

/// A file's mapping, and how much of it from its start was given back.
pub struct Mapping {
    map: memmap2::Mmap,
    released: AtomicUsize,
}

/// Pages are given back a mebibyte at a time: fewer system calls, and a whole number of pages.
const RELEASE_STEP: usize = 1 << 20;

impl FileBytes {
    /// The whole file at `path`, mapped when it is a regular file of at least [`MAP_MIN`]
    /// bytes, else read.
    pub fn map_or_read(path: &Path) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_file() && meta.len() >= MAP_MIN {
            // SAFETY: the mapping is read-only and private; that the file is not changed in
            // place while it is mapped is the condition the module's header states (a change
            // gives other bytes, a truncation SIGBUS, never a write through the mapping).
            if let Ok(map) = unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
                if map.len() as u64 == meta.len() {
                    return Ok(FileBytes::Mapped(Mapping {
                        map,
                        released: AtomicUsize::new(0),
                    }));
                }
            }
        }
        let mut bytes = Wiped::new(Vec::with_capacity(
            usize::try_from(meta.len()).unwrap_or(0).saturating_add(1),
        ));
        file.read_to_end(&mut bytes)?;
        Ok(FileBytes::Read(bytes))
    }

    /// The bytes in a buffer of their own (a copy of a mapping).
    pub fn into_wiped(self) -> Wiped<Vec<u8>> {
        match self {
            FileBytes::Read(bytes) => bytes,
            FileBytes::Mapped(m) => Wiped::new(m.map.to_vec()),
        }
    }

    /// Give back the pages of a mapping from where it last gave them back (its start, or the
    /// start of a new pass) to `end`, in whole mebibytes: the process no longer holds them, and reading them again maps them again from
    /// the system's page cache, with the same bytes (the file is not changed while it is
    /// mapped). Read bytes are kept.
    pub fn release_before(&self, end: usize) {
        let FileBytes::Mapped(m) = self else {
            return;
        };
        let to = end.min(m.map.len()) / RELEASE_STEP * RELEASE_STEP;
        let from = m.released.load(Ordering::Relaxed);
        if to <= from {
            return;
        }
        #[cfg(unix)]
        {
            // SAFETY: the mapping is private and read-only, never written: the pages given back
            // are read again from the file, whose bytes are the same while it is mapped (the
            // condition of the module's header).
            let given_back = unsafe {
                m.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from)
            };
            if given_back.is_ok() {
                m.released.fetch_max(to, Ordering::Relaxed);
            }
        }
    }

    /// Start a new pass over the mapping from its start: the pages [`FileBytes::release_before`]
    /// gave back are read again by it, and given back again behind it.
    pub fn rewind_release(&self) {
        if let FileBytes::Mapped(m) = self {
            m.released.store(0, Ordering::Relaxed);
        }
    }

    /// Whether the bytes are a file's mapping.
    pub fn is_mapped(&self) -> bool {
        matches!(self, FileBytes::Mapped(_))
    }
}

impl Default for FileBytes {
    fn default() -> Self {
        FileBytes::Read(Wiped::default())
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Read(bytes) => bytes,
            FileBytes::Mapped(m) => &m.map,
        }
    }
}

impl From<Wiped<Vec<u8>>> for FileBytes {
    fn from(bytes: Wiped<Vec<u8>>) -> Self {
        FileBytes::Read(bytes)
    }
}

impl From<Vec<u8>> for FileBytes {
    fn from(bytes: Vec<u8>) -> Self {
        FileBytes::Read(Wiped::new(bytes))
    }
}

impl std::fmt::Debug for FileBytes {
    /// The length only: the bytes may be plaintext.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_mapped() { "Mapped" } else { "Read" };
        write!(f, "FileBytes::{kind}({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file at `path`, read (as every command but `encrypt` and `decrypt` reads its input).
    fn read(path: &Path) -> FileBytes {
        FileBytes::from(std::fs::read(path).unwrap())
    }

    fn file_of(len: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        (dir, path, bytes)
    }

    #[test]
    fn a_large_file_is_mapped_and_a_small_one_read_with_the_same_bytes() {
        let min = MAP_MIN as usize;
        for (len, mapped) in [(0, false), (10, false), (min - 1, false), (min, true)] {
            let (_dir, path, bytes) = file_of(len);
            let got = FileBytes::map_or_read(&path).unwrap();
            assert_eq!(got.is_mapped(), mapped, "{len}");
            assert_eq!(&*got, bytes.as_slice(), "{len}");
            assert!(!read(&path).is_mapped());
            assert_eq!(got.into_wiped().as_slice(), bytes.as_slice());
        }
    }

    #[test]
    fn what_is_not_a_regular_file_is_read_or_refused_as_reading_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FileBytes::map_or_read(dir.path()).is_err());
        assert!(FileBytes::map_or_read(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn pages_given_back_read_again_as_the_same_bytes() {
        let (_dir, path, bytes) = file_of(3 * RELEASE_STEP + 100);
        let got = FileBytes::map_or_read(&path).unwrap();
        assert!(got.is_mapped());
        for end in [
            0,
            RELEASE_STEP - 1,
            RELEASE_STEP + 5,
            2 * RELEASE_STEP,
            usize::MAX,
        ] {
            got.release_before(end);
            assert!(&*got == bytes.as_slice(), "after giving back before {end}");
        }
        got.rewind_release();
        got.release_before(2 * RELEASE_STEP);
        assert!(&*got == bytes.as_slice(), "after a second pass");
        // Read bytes are kept as they are.
        let read = read(&path);
        read.release_before(usize::MAX);
        assert!(&*read == bytes.as_slice());
    }

    #[test]
    fn debug_shows_no_byte() {
        let shown = format!("{:?}", FileBytes::from(b"secret".to_vec()));
        assert_eq!(shown, "FileBytes::Read(6 bytes)");
    }
}
