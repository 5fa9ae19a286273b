//! Splitting a row-shaped output buffer across scoped threads.
//!
//! Matrix generation and leaf hashing are both "fill output row r from input row r"
//! loops over hundreds of megabytes; this is the one place that decides how many threads
//! to use and how to cut the work, so both callers stay plain sequential code.

use std::num::NonZeroUsize;
use std::thread;

/// Below this many items per thread, a thread costs more to start than it saves.
const MIN_ITEMS_PER_THREAD: usize = 1 << 16;

/// Number of worker threads the machine offers (at least 1).
pub(crate) fn available_threads() -> usize {
    thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(1)
}

/// Calls `fill(first_row, rows)` over disjoint runs of whole rows of `out`, where a row is
/// `row_len` consecutive items, possibly from several threads at once.
///
/// `cost_per_row` is an estimate of the work of one row in "items", so that small jobs
/// stay on the calling thread. Every row is passed to `fill` exactly once, and which
/// thread fills it never changes the result.
pub(crate) fn for_each_row_run<T, F>(out: &mut [T], row_len: usize, cost_per_row: usize, fill: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    if row_len == 0 || out.is_empty() {
        return;
    }
    let rows = out.len() / row_len;
    let total_cost = rows.saturating_mul(cost_per_row.max(1));
    let threads = available_threads()
        .min(total_cost / MIN_ITEMS_PER_THREAD)
        .min(rows)
        .max(1);
    if threads == 1 {
        fill(0, out);
        return;
    }
    let rows_per_thread = rows.div_ceil(threads);
    thread::scope(|scope| {
        for (k, run) in out.chunks_mut(rows_per_thread * row_len).enumerate() {
            let fill = &fill;
            scope.spawn(move || fill(k * rows_per_thread, run));
        }
    });
}
