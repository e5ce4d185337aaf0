//! The local server's scheduler for hold expiry: the same use case the `expire-holds` function runs
//! on AWS (`HoldExpirer`), on the server's own interval. Nothing is kept in memory between sweeps:
//! what is due is read from the store's due index each time, and each expiry is its own atomic write,
//! so a server stopped mid-sweep loses nothing (its first sweep after a restart takes what is due).

use std::sync::Arc;
use std::time::Duration;

use cofre_domain::authorizations::HoldExpirer;

/// How often the local server sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The most holds one local sweep releases (the rest wait a second, for the next one): keeps a
/// backlog from holding the writer for long at a stretch.
pub const SWEEP_MAX_HOLDS: usize = 10_000;

/// Sweeps every `every`, the first at once, for as long as the returned task lives (abort it to stop).
pub fn spawn(expirer: Arc<HoldExpirer>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        // A sweep longer than the interval is followed by the next one, not by a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = expirer.sweep(SWEEP_MAX_HOLDS).await {
                // Whatever it did not reach is still due: the next sweep takes it.
                tracing::error!(error = %e, "the hold sweep stopped");
            }
        }
    })
}
