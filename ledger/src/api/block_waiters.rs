//! Requests for a block not committed yet (`GET /v1/blocks/{height}?wait_ms=N`): which of
//! them a commit answers, and how many may wait at once.
//!
//! The sequencer object holds one waker a waiting request (`T`: in the Worker, the sending
//! half of a one-shot channel); the request itself waits for its waker or its own deadline,
//! whichever comes first, then reads the block as any block request does.

use super::ApiError;
use crate::limits::BLOCK_WAITERS_MAX;

/// The waiting requests, each with the height it waits for.
#[derive(Debug)]
pub struct BlockWaiters<T> {
    waiting: Vec<(u64, T)>,
}

impl<T> Default for BlockWaiters<T> {
    fn default() -> Self {
        Self {
            waiting: Vec::new(),
        }
    }
}

impl<T> BlockWaiters<T> {
    /// No request waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// A request waits for the block at `height`; refused with 503 `too_many_waiters` when
    /// [`BLOCK_WAITERS_MAX`] already wait (nothing is kept then). A request that timed out
    /// leaves its waker here until a commit: [`BlockWaiters::forget`] those first.
    pub fn wait_for(&mut self, height: u64, waker: T) -> Result<(), ApiError> {
        if self.waiting.len() >= BLOCK_WAITERS_MAX {
            return Err(ApiError::new(
                503,
                "too_many_waiters",
                format!("{BLOCK_WAITERS_MAX} requests already wait for blocks; ask again later"),
            ));
        }
        self.waiting.push((height, waker));
        Ok(())
    }

    /// The wakers of every request whose block is now committed (`height <= head`), removed.
    pub fn committed_through(&mut self, head: u64) -> Vec<T> {
        let (ready, still_waiting) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(height, _)| *height <= head);
        self.waiting = still_waiting;
        ready.into_iter().map(|(_, waker)| waker).collect()
    }

    /// Drops the wakers `is_gone` says nobody listens to any more (requests that timed out).
    pub fn forget(&mut self, mut is_gone: impl FnMut(&T) -> bool) {
        self.waiting.retain(|(_, waker)| !is_gone(waker));
    }

    /// How many requests wait.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_wakes_the_requests_for_its_height_and_below_only() {
        let mut waiters = BlockWaiters::new();
        for (height, name) in [(5, "a"), (7, "b"), (6, "c"), (5, "d")] {
            waiters.wait_for(height, name).expect("room");
        }
        assert!(waiters.committed_through(4).is_empty());
        assert_eq!(waiters.committed_through(5), vec!["a", "d"]);
        assert_eq!(waiters.len(), 2);
        assert_eq!(waiters.committed_through(7), vec!["b", "c"]);
        assert!(waiters.is_empty());
    }

    #[test]
    fn past_the_limit_a_request_is_refused_and_forgetting_makes_room() {
        let mut waiters = BlockWaiters::new();
        for index in 0..BLOCK_WAITERS_MAX {
            waiters.wait_for(10, index).expect("room");
        }
        let refused = waiters.wait_for(10, BLOCK_WAITERS_MAX).expect_err("full");
        assert_eq!((refused.status, refused.code), (503, "too_many_waiters"));
        assert_eq!(waiters.len(), BLOCK_WAITERS_MAX);
        waiters.forget(|index| index % 2 == 0);
        assert_eq!(waiters.len(), BLOCK_WAITERS_MAX / 2);
        waiters.wait_for(3, 0).expect("room again");
        assert_eq!(waiters.committed_through(3), vec![0]);
    }
}
