//! The WASI a probe gets: deny-all, coarse clocks, and no call that can
//! outlast the probe's deadline.
//!
//! Probes built for `wasm32-wasip2` import a dozen WASI interfaces, so the
//! host links them all (`wasmtime-wasi`, synchronous) but configures every
//! one to give nothing away:
//!
//! | interface | what a probe gets |
//! |---|---|
//! | `wasi:filesystem` | no preopened directories: every open fails |
//! | `wasi:sockets` | TCP, UDP and name lookup refused (`access-denied`), every address refused |
//! | `wasi:cli/environment` | no variables, no arguments, no working directory |
//! | `wasi:cli/stdin` | closed |
//! | `wasi:cli/stdout`, `stderr` | discarded (gomon's own stdout is plugin mode's handshake channel) |
//! | `wasi:cli/exit` | fails the call (a trap) |
//! | `wasi:clocks` | wall and monotonic clocks with a resolution of [`CLOCK_GRANULARITY`] (1 ms) |
//! | `wasi:random` | random bytes (the standard library's hash maps need them) |
//! | `wasi:io/poll`, blocking stream calls | wait at most until the call's deadline |
//!
//! The last row is what keeps wall time bounded. The epoch deadline
//! interrupts guest code only; a probe that sleeps (`monotonic-clock.
//! subscribe-duration` and `poll` or `pollable.block`) waits in the host,
//! where no epoch reaches it. So the host replaces `wasi:io/poll` and the
//! blocking methods of `wasi:io/streams` with versions that wait for
//! readiness only until the deadline of the call in progress, and then fail
//! the call with [`DeadlineExceeded`], which the runtime counts as a
//! `timeout`, exactly like a probe stopped in a loop. Everything else in
//! this WASI returns at once: no descriptor, socket or stream that could
//! wait exists.
//!
//! The alternative — running every call asynchronously with a watchdog —
//! would put each call on a fiber of its own; measured in
//! `host/examples/call_cost.rs`, it costs more per call than the whole
//! guard here, which is one clock read per call.

use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams::{HostInputStream as AsyncInput, HostOutputStream as AsyncOutput};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream};

/// The resolution of the clocks probes read: finer timing than this is a
/// side channel (cache and scheduling timing of the host) and no probe
/// needs it.
pub const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// A WASI context that gives a probe nothing: see the module docs.
pub fn sandbox_ctx() -> WasiCtx {
    WasiCtxBuilder::new()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .monotonic_clock(CoarseMonotonicClock)
        .wall_clock(CoarseWallClock)
        .build()
}

/// Where the coarse monotonic clock counts from (the first read in the
/// process), so that every instance sees one clock.
static MONOTONIC_START: LazyLock<Instant> = LazyLock::new(Instant::now);

fn granularity_nanos() -> u64 {
    CLOCK_GRANULARITY.as_nanos() as u64
}

/// The monotonic clock, rounded down to [`CLOCK_GRANULARITY`].
struct CoarseMonotonicClock;

impl HostMonotonicClock for CoarseMonotonicClock {
    fn resolution(&self) -> u64 {
        granularity_nanos()
    }

    fn now(&self) -> u64 {
        let nanos = u64::try_from(MONOTONIC_START.elapsed().as_nanos()).unwrap_or(u64::MAX);
        nanos - nanos % granularity_nanos()
    }
}

/// The wall clock, rounded down to [`CLOCK_GRANULARITY`].
struct CoarseWallClock;

impl HostWallClock for CoarseWallClock {
    fn resolution(&self) -> Duration {
        CLOCK_GRANULARITY
    }

    fn now(&self) -> Duration {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let nanos = since.subsec_nanos();
        Duration::new(since.as_secs(), nanos - nanos % granularity_nanos() as u32)
    }
}

/// A probe waited in a WASI call until its call's deadline; the call is
/// failed and counted as a `timeout`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("waited in {call} until the call's deadline")]
pub struct DeadlineExceeded {
    /// The WASI function, e.g. `wasi:io/poll.poll`.
    pub call: &'static str,
}

/// `wasi:io/poll` and `wasi:io/streams` over a probe's resource table,
/// bounded by the deadline of the call in progress.
pub struct BoundedIo<'a> {
    /// The probe's WASI resources.
    pub table: &'a mut ResourceTable,
    /// When the call in progress must end.
    pub deadline: Instant,
}

/// The [`HasData`] of [`BoundedIo`].
pub struct HasBoundedIo;

impl HasData for HasBoundedIo {
    type Data<'a> = BoundedIo<'a>;
}

/// Links WASI into `linker` for probes: `wasmtime-wasi`'s synchronous WASI
/// with `wasi:io/poll` and `wasi:io/streams` replaced by the bounded ones.
pub fn add_to_linker<T: wasmtime_wasi::WasiView + 'static>(
    linker: &mut Linker<T>,
    bounded: fn(&mut T) -> BoundedIo<'_>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let result = poll::add_to_linker::<T, HasBoundedIo>(linker, bounded)
        .and_then(|()| streams::add_to_linker::<T, HasBoundedIo>(linker, bounded));
    linker.allow_shadowing(false);
    result
}

/// Runs a WASI future to completion or until `deadline`.
fn until<F: Future>(deadline: Instant, call: &'static str, future: F) -> Result<F::Output, DeadlineExceeded> {
    in_tokio(async move {
        tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), future)
            .await
            .map_err(|_| DeadlineExceeded { call })
    })
}

fn stream_deadline(e: DeadlineExceeded) -> StreamError {
    StreamError::Trap(wasmtime::Error::new(e))
}

impl poll::Host for BoundedIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let deadline = self.deadline;
        until(deadline, "wasi:io/poll.poll", async_poll::Host::poll(&mut *self.table, pollables))?
    }
}

impl poll::HostPollable for BoundedIo<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        let deadline = self.deadline;
        until(deadline, "wasi:io/poll.pollable.ready", async_poll::HostPollable::ready(&mut *self.table, pollable))?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let deadline = self.deadline;
        until(deadline, "wasi:io/poll.pollable.block", async_poll::HostPollable::block(&mut *self.table, pollable))?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(&mut *self.table, pollable)
    }
}

impl streams::Host for BoundedIo<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(&mut *self.table, err)
    }
}

impl streams::HostInputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        let deadline = self.deadline;
        until(deadline, "wasi:io/streams.input-stream.drop", AsyncInput::drop(&mut *self.table, stream))?
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncInput::read(&mut *self.table, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        let deadline = self.deadline;
        until(
            deadline,
            "wasi:io/streams.input-stream.blocking-read",
            AsyncInput::blocking_read(&mut *self.table, stream, len),
        )
        .map_err(stream_deadline)?
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AsyncInput::skip(&mut *self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        let deadline = self.deadline;
        until(
            deadline,
            "wasi:io/streams.input-stream.blocking-skip",
            AsyncInput::blocking_skip(&mut *self.table, stream, len),
        )
        .map_err(stream_deadline)?
    }

    fn subscribe(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncInput::subscribe(&mut *self.table, stream)
    }
}

impl streams::HostOutputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        let deadline = self.deadline;
        until(deadline, "wasi:io/streams.output-stream.drop", AsyncOutput::drop(&mut *self.table, stream))?
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        AsyncOutput::check_write(&mut *self.table, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOutput::write(&mut *self.table, stream, bytes)
    }

    fn blocking_write_and_flush(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        let deadline = self.deadline;
        until(
            deadline,
            "wasi:io/streams.output-stream.blocking-write-and-flush",
            AsyncOutput::blocking_write_and_flush(&mut *self.table, stream, bytes),
        )
        .map_err(stream_deadline)?
    }

    fn blocking_write_zeroes_and_flush(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        let deadline = self.deadline;
        until(
            deadline,
            "wasi:io/streams.output-stream.blocking-write-zeroes-and-flush",
            AsyncOutput::blocking_write_zeroes_and_flush(&mut *self.table, stream, len),
        )
        .map_err(stream_deadline)?
    }

    fn subscribe(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOutput::subscribe(&mut *self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        AsyncOutput::write_zeroes(&mut *self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        AsyncOutput::flush(&mut *self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        let deadline = self.deadline;
        until(
            deadline,
            "wasi:io/streams.output-stream.blocking-flush",
            AsyncOutput::blocking_flush(&mut *self.table, stream),
        )
        .map_err(stream_deadline)?
    }

    fn splice(&mut self, dst: Resource<DynOutputStream>, src: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AsyncOutput::splice(&mut *self.table, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        let deadline = self.deadline;
        until(
            deadline,
            "wasi:io/streams.output-stream.blocking-splice",
            AsyncOutput::blocking_splice(&mut *self.table, dst, src, len),
        )
        .map_err(stream_deadline)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_are_coarse() {
        let g = granularity_nanos();
        let mono = CoarseMonotonicClock;
        assert_eq!(mono.resolution(), g);
        for _ in 0..1000 {
            assert_eq!(mono.now() % g, 0);
            assert_eq!(CoarseWallClock.now().subsec_nanos() as u64 % g, 0);
        }
        assert_eq!(CoarseWallClock.resolution(), CLOCK_GRANULARITY);
        let wall = CoarseWallClock.now();
        let real = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(real >= wall && real - wall < Duration::from_secs(1), "{wall:?} vs {real:?}");
    }
}
