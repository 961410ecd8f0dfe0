//! A host's way through a play's blocks. On the normal path a block's
//! body runs, its rescue is passed over and its always runs; a failure in
//! the body goes to the rescue (the failure is then "rescued"), and a
//! failure with no rescue to catch it runs the always first and then goes
//! on to the block around, as Ansible does.

use std::collections::{BTreeMap, BTreeSet};

use crate::playbook::{BlockPart, BlockPlace, Play};

/// A task's failure on its way through the blocks around it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The failed task's index in the play.
    pub task: usize,
    /// Its registered-style result (`ansible_failed_result`).
    pub result: serde_json::Value,
}

/// Where one host stands among the play's blocks.
#[derive(Debug, Default)]
pub struct Flow {
    /// Blocks whose rescue runs: a task in their body failed.
    rescuing: BTreeSet<usize>,
    /// Blocks whose always runs for a failure that nothing rescued: once
    /// the always is done, the failure goes on outward.
    failing: BTreeMap<usize, Failure>,
}

/// Where a failure leads.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// To a block's rescue: the failure is rescued.
    Rescue { at: usize },
    /// To a block's always, after which it goes on.
    Always { at: usize },
    /// Nothing catches it: the host has failed.
    HostFailed,
}

impl Flow {
    /// Whether `task` is on this host's path: no block around it is in a
    /// rescue that does not run.
    pub fn on_path(&self, play: &Play, task: usize) -> bool {
        places(play, play.tasks[task].block).all(|p| p.part != BlockPart::Rescue || self.rescuing.contains(&p.block))
    }

    /// A block whose always ran for a failure and that ends before `task`
    /// (None: the end of the play): the failure must go on before it.
    pub fn failing_before(&self, play: &Play, task: Option<usize>) -> Option<usize> {
        self.failing.keys().copied().find(|&b| task.is_none_or(|t| t >= play.blocks[b].always.end))
    }

    /// Whether any failure is on its way out through an always.
    pub fn is_failing(&self) -> bool {
        !self.failing.is_empty()
    }

    /// A task failed (its failure not ignored): where the host goes on.
    pub fn fail(&mut self, play: &Play, failure: Failure) -> AfterFailure {
        let from = play.tasks[failure.task].block;
        self.go_on(play, from, failure)
    }

    /// The always of failing block `block` is done: its failure goes on to
    /// the blocks around it.
    pub fn resume_failure(&mut self, play: &Play, block: usize) -> AfterFailure {
        let failure = self.failing.remove(&block).expect("a failing block");
        self.go_on(play, play.blocks[block].parent, failure)
    }

    fn go_on(&mut self, play: &Play, from: Option<BlockPlace>, failure: Failure) -> AfterFailure {
        let mut place = from;
        while let Some(p) = place {
            let block = &play.blocks[p.block];
            match p.part {
                BlockPart::Body if !block.rescue.is_empty() => {
                    self.rescuing.insert(p.block);
                    return AfterFailure::Rescue { at: block.rescue.start };
                }
                BlockPart::Body | BlockPart::Rescue if !block.always.is_empty() => {
                    self.failing.insert(p.block, failure);
                    return AfterFailure::Always { at: block.always.start };
                }
                _ => place = block.parent,
            }
        }
        AfterFailure::HostFailed
    }
}

/// Whether a failure of `task` will be rescued: some block around it has a
/// rescue and holds the task in its body (a failure in a rescue or always
/// goes on outward, to be rescued or not there).
pub fn rescued(play: &Play, task: usize) -> bool {
    places(play, play.tasks[task].block).any(|p| p.part == BlockPart::Body && !play.blocks[p.block].rescue.is_empty())
}

/// The places around a task, innermost first.
fn places(play: &Play, innermost: Option<BlockPlace>) -> impl Iterator<Item = BlockPlace> + '_ {
    std::iter::successors(innermost, |p| play.blocks[p.block].parent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_playbook;

    fn play(yaml: &str) -> (tempfile::TempDir, Play) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(&path, yaml).unwrap();
        let mut book = load_playbook(&path).unwrap();
        (dir, book.plays.remove(0))
    }

    fn failure(task: usize) -> Failure {
        Failure { task, result: serde_json::json!({"failed": true}) }
    }

    fn names(play: &Play, flow: &Flow) -> Vec<String> {
        (0..play.tasks.len()).filter(|&t| flow.on_path(play, t)).map(|t| play.tasks[t].display_name()).collect()
    }

    const NESTED: &str = r#"
- hosts: all
  tasks:
    - name: before
      command: "true"
    - block:
        - name: outer body
          command: "true"
        - block:
            - name: inner body
              command: "true"
          always:
            - name: inner always
              command: "true"
      rescue:
        - name: outer rescue
          command: "true"
      always:
        - name: outer always
          command: "true"
    - name: after
      command: "true"
"#;

    #[test]
    fn the_normal_path_passes_over_rescues() {
        let (_d, play) = play(NESTED);
        assert_eq!(
            names(&play, &Flow::default()),
            ["before", "outer body", "inner body", "inner always", "outer always", "after"]
        );
        assert!(!rescued(&play, 0));
        assert!(rescued(&play, 2), "inner body: the outer block rescues it");
        assert!(rescued(&play, 3), "inner always: in the outer body");
        assert!(!rescued(&play, 4), "outer rescue");
    }

    #[test]
    fn a_failure_runs_the_inner_always_then_the_outer_rescue() {
        let (_d, play) = play(NESTED);
        let mut flow = Flow::default();
        // "inner body" fails: the inner block has no rescue, its always runs.
        assert_eq!(flow.fail(&play, failure(2)), AfterFailure::Always { at: 3 });
        assert_eq!(flow.failing_before(&play, Some(3)), None, "inside the inner always");
        assert_eq!(flow.failing_before(&play, Some(4)), Some(1), "past the inner block");
        // Then the failure reaches the outer body: its rescue runs.
        assert_eq!(flow.resume_failure(&play, 1), AfterFailure::Rescue { at: 4 });
        assert!(flow.on_path(&play, 4));
        assert!(!flow.is_failing());
    }

    #[test]
    fn a_failing_rescue_runs_always_and_fails_the_host() {
        let (_d, play) = play(NESTED);
        let mut flow = Flow::default();
        assert_eq!(flow.fail(&play, failure(1)), AfterFailure::Rescue { at: 4 });
        assert_eq!(flow.fail(&play, failure(4)), AfterFailure::Always { at: 5 });
        assert_eq!(flow.failing_before(&play, Some(6)), Some(0));
        assert_eq!(flow.resume_failure(&play, 0), AfterFailure::HostFailed);
        assert_eq!(flow.fail(&play, failure(6)), AfterFailure::HostFailed, "outside every block");
    }
}
