//! A loaded log set with what every view needs precomputed once: the PIDS index and each
//! row's block. Built off the UI thread; shared read-only (in an `Arc`) afterwards.

use std::path::PathBuf;

use crate::analysis::index::{BlockId, PidsIndex};
use crate::error::LogError;
use crate::logs::ports::LoadProgress;
use crate::logs::set::{self, LogSet};
use crate::model::ProcessBlock;

#[derive(Debug)]
pub struct Dataset {
    /// What was opened, as given.
    pub paths: Vec<PathBuf>,
    pub set: LogSet,
    pub index: PidsIndex,
    /// The PIDS block of each PORTS row (see [`PidsIndex::row_blocks`]).
    pub row_blocks: Vec<BlockId>,
}

impl Dataset {
    pub fn open(paths: &[PathBuf], progress: &LoadProgress) -> Result<Dataset, LogError> {
        let set = set::open(paths, progress)?;
        Ok(Dataset::from_set(paths.to_vec(), set))
    }

    pub fn from_set(paths: Vec<PathBuf>, set: LogSet) -> Dataset {
        let index = PidsIndex::build(&set);
        let row_blocks = index.row_blocks(&set);
        Dataset { paths, set, index, row_blocks }
    }

    /// The block describing a row, with its id.
    pub fn block_of_row(&self, row: usize) -> Option<(BlockId, &ProcessBlock)> {
        let id = *self.row_blocks.get(row)?;
        self.index.block(&self.set, id).map(|b| (id, b))
    }
}
