//! One play across its hosts: batches (`serial`), at most `forks` hosts at
//! a time, the fail budget (`max_fail_percentage`), and the pool that keeps
//! each host's connection for its later plays.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::session::HostRun;
use super::{PreparedHost, PreparedPlay, RunOptions};
use crate::batches;
use crate::report::{HostStats, Reporter};
use crate::transport::{Connection, Connector};

/// Connections (each with its host's session) are kept for the host's later
/// plays, and closed once it has none left or failed. A host waiting for
/// its next play keeps its connection while the others run this one, so
/// with several plays more than `forks` connections may be open at once.
pub(super) type Pool = Mutex<HashMap<String, Box<dyn Connection>>>;

/// What every play of a run shares.
pub(super) struct Rollout<'r> {
    pub connector: Arc<dyn Connector>,
    pub reporter: Arc<dyn Reporter>,
    pub stats: &'r Arc<Mutex<HashMap<String, HostStats>>>,
    pub pool: &'r Arc<Pool>,
    pub opts: &'r RunOptions,
    /// Each host's last play, after which its connection is closed.
    pub last_play: HashMap<String, usize>,
}

impl Rollout<'_> {
    /// Run one play on its hosts that are still in the run; the hosts that
    /// fail join `dead` and sit out the remaining plays.
    pub async fn play(&self, play: PreparedPlay<'_>, play_index: usize, dead: &mut BTreeSet<String>) {
        let (opts, reporter, stats) = (self.opts, &self.reporter, self.stats);
        let last_play = &self.last_play;
        let hosts: Vec<PreparedHost> = play.hosts.into_iter().filter(|h| !dead.contains(&h.name)).collect();
        let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        reporter.play_start(&play.play.name, &names, opts.check);
        for name in &names {
            stats.lock().unwrap().entry(name.clone()).or_default();
        }
        let forks = Arc::new(Semaphore::new(opts.forks.get()));
        let run = HostRun { play: play.play, selected: &play.selected, opts, reporter, stats };
        let serial = opts.serial.as_ref().or(play.play.serial.as_ref());
        let max_fail = opts.max_fail_percentage.or(play.play.max_fail_percentage);
        let sizes = serial.map_or_else(|| vec![hosts.len()], |s| s.split(hosts.len()));
        let mut remaining = hosts.into_iter();
        for (index, size) in sizes.iter().enumerate() {
            let batch: Vec<PreparedHost> = remaining.by_ref().take(*size).collect();
            if serial.is_some() {
                let names: Vec<String> = batch.iter().map(|h| h.name.clone()).collect();
                reporter.batch_start(index + 1, sizes.len(), &names);
            }
            // A batch finishes (health gates included) before the next starts.
            let futures = batch.iter().map(|host| {
                let forks = Arc::clone(&forks);
                let connector = Arc::clone(&self.connector);
                let pool = Arc::clone(self.pool);
                let run = &run;
                let last = last_play.get(&host.name) == Some(&play_index);
                async move {
                    let _permit = forks.acquire().await.expect("semaphore open");
                    run.reporter.host_start(&host.name);
                    let ok = run.host(host, connector.as_ref(), &pool).await;
                    run.reporter.host_done(&host.name);
                    // A host done with its plays (or failed: it sits out the
                    // rest) lets its connection go before its fork slot.
                    if last || !ok {
                        let conn = pool.lock().unwrap().remove(&host.name);
                        if let Some(conn) = conn {
                            conn.close().await;
                        }
                    }
                    (host.name.clone(), ok)
                }
            });
            let mut failed = 0;
            for (name, ok) in futures::future::join_all(futures).await {
                if !ok {
                    failed += 1;
                    dead.insert(name);
                }
            }
            if batches::budget_exceeded(failed, batch.len(), max_fail) {
                let untouched: Vec<String> = remaining.by_ref().map(|h| h.name).collect();
                if !untouched.is_empty() {
                    reporter.warn(&format!(
                            "play `{}` stopped: {failed} of {} hosts failed in batch {} (max_fail_percentage {}); not touched: {}",
                            play.play.name,
                            batch.len(),
                            index + 1,
                            max_fail.map_or("not set: the whole batch failed".to_string(), |p| format!("{p}%")),
                            untouched.join(", ")
                        ));
                }
                break;
            }
        }
    }
}
