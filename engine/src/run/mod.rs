//! Running a playbook, phase by phase:
//!
//! - [`prepare`]: everything is parsed, rendered and checked for every host
//!   first, so bad input never reaches a host;
//! - [`rollout`]: hosts run in batches (`serial`), in parallel up to
//!   `forks`, within the play's fail budget; connections are pooled across
//!   plays;
//! - [`session`]: one host, its connection and the scripts sent over it;
//! - [`probe_apply`]: per segment of a host's plan, one probe and at most
//!   one apply;
//! - [`judge`]: `changed_when`, `failed_when`, `until` on a task's result;
//! - [`finals`]: deferred actions, handlers and health gates at a play's end;
//! - [`results`]: what each step's report means (status, message, registered
//!   value, diff).
//!
//! A failing host stops only itself.

mod finals;
mod judge;
mod prepare;
mod probe_apply;
mod results;
mod rollout;
mod session;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::batches::Serial;
use crate::plan;
use crate::report::{HostStats, Recap, Reporter};
use crate::script;
use crate::template::Vars;
use crate::transport::{Connection, Connector};

pub use prepare::{play_hosts, prepare, tag_selected, PreparedHost, PreparedPlay};

/// How many hosts are worked on at once: at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forks(std::num::NonZeroUsize);

impl Forks {
    /// `-f`, ansible.cfg's `forks`: 0 means 1.
    pub fn new(n: usize) -> Forks {
        Forks(std::num::NonZeroUsize::new(n).unwrap_or(std::num::NonZeroUsize::MIN))
    }
    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl Default for Forks {
    /// Ansible's default is 5; push's hosts cost little on the controller.
    fn default() -> Forks {
        Forks::new(50)
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub forks: Forks,
    pub check: bool,
    pub diff: bool,
    pub limit: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub extra_vars: Arc<Vars>,
    /// `--serial`: overrides every play's `serial`.
    pub serial: Option<Serial>,
    /// `--max-fail-percentage`: overrides every play's.
    pub max_fail_percentage: Option<f64>,
    /// The deploy lock every apply takes on its host.
    pub lock: Option<LockOptions>,
    /// Pins image tags to digests (None: images are used as written).
    pub pin_images: Option<Arc<crate::digest::DigestResolver>>,
    /// `push rollback`: plan only the tasks whose module rolls back, as
    /// rollback ops; handlers are not notified.
    pub rollback: bool,
    /// `-u`: the login user of hosts whose variables and play name none.
    pub remote_user: Option<String>,
    /// `-K`: the sudo password of hosts without `ansible_become_password`.
    pub become_password: Option<script::BecomePassword>,
    /// ansible.cfg's `private_key_file`: for hosts that name no key.
    pub default_key_file: Option<PathBuf>,
}

impl RunOptions {
    fn intent(&self) -> plan::Intent<'_> {
        match (&self.pin_images, self.rollback) {
            (_, true) => plan::Intent::Rollback,
            (Some(r), false) => plan::Intent::ConvergePinned(r),
            (None, false) => plan::Intent::Converge,
        }
    }
}

/// How applies take each host's deploy lock.
#[derive(Debug, Clone, Default)]
pub struct LockOptions {
    /// Who we are, for another run's error message.
    pub holder: String,
    /// Seconds to wait for another run's lock.
    pub wait_secs: u64,
    /// Break a lock whose holder process is gone.
    pub break_stale: bool,
}

/// Run prepared plays. Returns the recap; never fails as a whole: a host's
/// trouble is in its stats.
pub async fn execute(
    plays: Vec<PreparedPlay<'_>>,
    connector: Arc<dyn Connector>,
    reporter: Arc<dyn Reporter>,
    opts: &RunOptions,
) -> Recap {
    let stats: Arc<Mutex<HashMap<String, HostStats>>> = Arc::default();
    let pool: Arc<rollout::Pool> = Arc::default();
    let mut dead: BTreeSet<String> = BTreeSet::new();
    let last_play: HashMap<String, usize> =
        plays.iter().enumerate().flat_map(|(i, p)| p.hosts.iter().map(move |h| (h.name.clone(), i))).collect();
    let rollout =
        rollout::Rollout { connector, reporter: Arc::clone(&reporter), stats: &stats, pool: &pool, opts, last_play };
    for (play_index, play) in plays.into_iter().enumerate() {
        rollout.play(play, play_index, &mut dead).await;
    }
    let connections: Vec<Box<dyn Connection>> = pool.lock().unwrap().drain().map(|(_, c)| c).collect();
    futures::future::join_all(connections.into_iter().map(|c| c.close())).await;
    let pinned = opts.pin_images.as_ref().map(|r| r.pinned()).unwrap_or_default();
    let recap = Recap { hosts: stats.lock().unwrap().clone().into_iter().collect(), pinned };
    reporter.recap(&recap);
    recap
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_flow;
