//! The `sepal` executable: the command line over the library, with the memory allocator it runs
//! on (see docs/performance.md, sixth round, for what it was measured against) and an entry point
//! of its own (twelfth round).

#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

/// mimalloc instead of glibc's malloc. A large file is read and checked on two threads at once;
/// glibc made them take turns at one lock (the main arena's: each thread frees or resizes blocks
/// the other made) and kept freed memory in per-thread arenas. mimalloc frees across threads
/// without a shared lock and gives pages back soon after they empty. Built without transparent huge
/// pages (the `no_thp` feature): with them, a small file's run touched 2 MiB pages whole.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its index in the `mi_option_e` enumeration of the mimalloc
/// version that `libmimalloc-sys` 0.1.49 builds, pinned in Cargo.toml; the test below checks it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc's `mi_option_destroy_on_exit`, likewise. Above 1 it makes mimalloc's exit handler
/// return at once.
const MI_OPTION_DESTROY_ON_EXIT: libmimalloc_sys::mi_option_t = 22;

/// mimalloc's `mi_option_arena_reserve` (in KiB), likewise.
const MI_OPTION_ARENA_RESERVE: libmimalloc_sys::mi_option_t = 23;

/// The first arena mimalloc reserves: 64 MiB instead of its default 1 GiB. mimalloc sets up the
/// bookkeeping of a whole arena (bitmaps over its slices) when it reserves it, at the first
/// allocation: about 40 pages for 1 GiB, some 0.1 ms of every start (eleventh round, in
/// docs/performance.md). A large file's run reserves further arenas as it needs them. The first
/// allocation comes before `main` (Rust's runtime makes it), so this runs among the executable's
/// initialisers, before the runtime.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static SMALL_FIRST_ARENA: extern "C" fn() = small_first_arena;

#[cfg(target_os = "linux")]
extern "C" fn small_first_arena() {
    // A default only: MIMALLOC_ARENA_RESERVE still wins.
    // SAFETY: sets a plain integer in mimalloc's option table; nothing is allocated yet.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_ARENA_RESERVE, 64 << 10) };
}

/// The process's entry point, called by the C library's start code rather than through Rust's
/// runtime start (`#![no_main]`): that start asks glibc for the main thread's stack bounds, which
/// reads `/proc/self/maps`, and sets up a stack-overflow handler with an alternate signal stack
/// for the main thread, some 70 µs of a start that takes under 2 ms (a static "hello" 0.68 ->
/// 0.61 ms; docs/performance.md, twelfth round). What sepal relies on from it is done here: SIGPIPE
/// ignored (a closed pipe is an error to report, not a signal that kills; children still start
/// with the default, which std's `Command` restores), a panic reported and turned into exit code
/// 101 rather than unwinding into C, and standard output flushed before returning. The arguments
/// come from `std::env::args_os`, which std fills from glibc's initialisers (only there: other
/// systems keep Rust's start). (A main thread's stack overflow then ends in SIGSEGV rather than
/// std's message and SIGABRT.)
#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
#[no_mangle]
pub extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    // SAFETY: installs SIG_IGN for SIGPIPE, as std's runtime start does; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let code = std::panic::catch_unwind(run).unwrap_or(101);
    // What Rust's runtime start does once `main` returns. (Whatever went wrong writing the
    // output was reported by the command already.)
    let _ = std::io::Write::flush(&mut std::io::stdout().lock());
    std::ffi::c_int::from(code)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(test))))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(run())
}

fn run() -> u8 {
    // Freed pages go back to the system after a millisecond unless reused first, not after
    // mimalloc's default delay: a command's work is a few stages, and what one stage frees is
    // what keeps the next one's peak down. (At once, 0, cost 1-8% in time on large files for
    // 0-5 MiB; docs/performance.md.) A default only: MIMALLOC_PURGE_DELAY still wins.
    // SAFETY: sets a plain integer in mimalloc's option table; no allocation is in flight.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 1) };
    // Where a command asks (until its cipher walk, `ops::free::KeptFreedPages`), freed pages are
    // kept instead.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        sepal::ops::on_freed_pages(apply_freed_pages);
    }
    // At exit, mimalloc would free every page it holds back to the system, a dozen `madvise`
    // calls that the process's exit does anyway (a tenth of a one-value decryption's time, ninth
    // round). Every secret was wiped when its owner dropped, before this returns.
    // SAFETY: as above.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_DESTROY_ON_EXIT, 2) };
    // Before anything is read or decrypted.
    sepal::cli::disable_core_dumps();
    let cli = sepal::cli::parse_args(std::env::args_os().collect());
    sepal::cli::run(cli)
}

/// mimalloc's purge delay for [`sepal::ops::FreedPages`]: never (-1), or 1 ms.
fn apply_freed_pages(policy: sepal::ops::FreedPages) {
    let delay = match policy {
        sepal::ops::FreedPages::Keep => -1,
        sepal::ops::FreedPages::GiveBack => 1,
    };
    // SAFETY: mimalloc's own call for changing an option while it runs; it sets an integer.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay) };
}

#[cfg(test)]
mod tests {
    use std::ffi::{c_char, c_void, CStr};

    extern "C" {
        // In the mimalloc library libmimalloc-sys builds, not in its Rust declarations.
        fn mi_options_print_out(out: libmimalloc_sys::mi_output_fun, arg: *mut c_void);
    }

    /// Appends one line of mimalloc's output to the `Vec<u8>` behind `arg`, within its capacity
    /// (no allocation while mimalloc prints).
    unsafe extern "C" fn collect(msg: *const c_char, arg: *mut c_void) {
        // SAFETY: `arg` is the `Vec<u8>` given below, alive for the call; `msg` is a C string.
        let (out, line) = unsafe { (&mut *arg.cast::<Vec<u8>>(), CStr::from_ptr(msg)) };
        let line = line.to_bytes();
        if out.len() + line.len() <= out.capacity() {
            out.extend_from_slice(line);
        }
    }

    #[test]
    fn the_option_indexes_name_mimallocs_options() {
        let mut out: Vec<u8> = Vec::with_capacity(64 << 10);
        // SAFETY: plain calls into mimalloc; `collect` only writes within `out`'s capacity.
        // (destroy_on_exit only matters when the process exits; this test process's exit then
        // skips mimalloc's handler, as sepal's does.)
        unsafe {
            libmimalloc_sys::mi_option_set(super::MI_OPTION_PURGE_DELAY, 4321);
            libmimalloc_sys::mi_option_set(super::MI_OPTION_DESTROY_ON_EXIT, 4322);
            mi_options_print_out(Some(collect), (&mut out as *mut Vec<u8>).cast());
        }
        let printed = String::from_utf8_lossy(&out);
        // What `ops::free::FreedPages` sets.
        let mut kept: Vec<u8> = Vec::with_capacity(64 << 10);
        super::apply_freed_pages(sepal::ops::FreedPages::Keep);
        // SAFETY: as above.
        unsafe { mi_options_print_out(Some(collect), (&mut kept as *mut Vec<u8>).cast()) };
        assert!(String::from_utf8_lossy(&kept).contains("option 'purge_delay': -1"));
        let mut given: Vec<u8> = Vec::with_capacity(64 << 10);
        super::apply_freed_pages(sepal::ops::FreedPages::GiveBack);
        // SAFETY: as above.
        unsafe { mi_options_print_out(Some(collect), (&mut given as *mut Vec<u8>).cast()) };
        assert!(
            String::from_utf8_lossy(&given).contains("option 'purge_delay': 1 "),
            "{}",
            String::from_utf8_lossy(&given)
        );
        for expected in [
            "option 'purge_delay': 4321",
            "option 'destroy_on_exit': 4322",
            // Set before `main` (the initialiser above); unless MIMALLOC_ARENA_RESERVE is set.
            "option 'arena_reserve': 65536 KiB",
        ] {
            assert!(printed.contains(expected), "mimalloc's options:\n{printed}");
        }
    }
}
