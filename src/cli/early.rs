//! Standard output as a destination an encryption may write early ([`crate::ops::early`]): only
//! when it is a regular file written at its end (`> file`, `>> file`), which a write can be taken
//! back from by cutting the file back to where it ended. A pipe, a terminal or a file written
//! in its middle gets the output at the end, as before.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::sync::{Mutex, PoisonError};

use crate::ops::early::EarlyOutput;

/// Standard output, perhaps written early.
#[derive(Default)]
pub struct EarlyStdout {
    state: Mutex<State>,
}

#[derive(Default)]
enum State {
    #[default]
    Nothing,
    /// `len` bytes written from `start`, through `file` (standard output's own open file).
    Written { file: File, start: u64, len: usize },
    /// A write that could not be taken back.
    Stuck(io::Error),
}

impl EarlyStdout {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Write `bytes` as the command's output unless they were written early (the operation's
    /// promise: what was written early and not taken back is the bytes it returned).
    pub fn finish(&self, bytes: &[u8]) -> io::Result<Finished> {
        match std::mem::take(&mut *self.state()) {
            State::Nothing => Ok(Finished::ToWrite),
            State::Written { len, .. } if len == bytes.len() => Ok(Finished::Written),
            // Never the case; written again from where it started all the same.
            State::Written { file, start, .. } => {
                cut(&file, start)?;
                Ok(Finished::ToWrite)
            }
            State::Stuck(e) => Err(e),
        }
    }
}

/// Whether [`EarlyStdout::finish`] found the output written.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    Written,
    ToWrite,
}

/// Standard output's open file (the same offset and flags), when it is a regular file whose end
/// is where the next write goes (every write, when it appends): with where that is.
fn at_end_of_a_file() -> Option<(File, u64)> {
    let mut file = File::from(io::stdout().as_fd().try_clone_to_owned().ok()?);
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let end = meta.len();
    (appends(&file) || file.stream_position().ok()? == end).then_some((file, end))
}

/// Whether every write to `file` goes to its end (opened with `O_APPEND`, as by `>>`).
fn appends(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFL reads the flags of a descriptor this function holds open, nothing else.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_APPEND != 0
}

/// Cut `file` back to `start` bytes, and write from there on.
fn cut(mut file: &File, start: u64) -> io::Result<()> {
    file.set_len(start)?;
    file.seek(SeekFrom::Start(start)).map(|_| ())
}

impl EarlyOutput for EarlyStdout {
    fn write_early(&self, bytes: &[u8]) -> bool {
        let Some((mut file, start)) = at_end_of_a_file() else {
            return false;
        };
        let mut state = self.state();
        match file.write_all(bytes) {
            Ok(()) => {
                *state = State::Written {
                    file,
                    start,
                    len: bytes.len(),
                };
                true
            }
            // Taken back; the write at the end says what is wrong.
            Err(_) => match cut(&file, start) {
                Ok(()) => false,
                Err(e) => {
                    *state = State::Stuck(e);
                    false
                }
            },
        }
    }

    fn take_back(&self) {
        let mut state = self.state();
        if let State::Written { file, start, .. } = std::mem::take(&mut *state) {
            if let Err(e) = cut(&file, start) {
                *state = State::Stuck(e);
            }
        }
    }
}
