//! Retired connections, packed: one block per retire and arena, each connection as three
//! LEB128 varints — its address's step from the one before (in the arena's places), its rest
//! id, and its start after the block's earliest. Generated logs take about 5 bytes a
//! connection this way against 12 unpacked, and a month of a busy server's log holds tens of
//! millions of connections. The varints are written here rather than with a crate: a few
//! lines on a `Vec<u8>` in the retire's loop, where the crates' `io::Write` interfaces cost a
//! call per byte.

/// A connection no later row can join: its candidate (remote address id, rest id) and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Retired<T> {
    pub addr: u32,
    pub rest: u32,
    pub start: T,
}

/// Connections retired at once from one arena, packed.
#[derive(Debug, Clone)]
pub(super) struct RetiredBlock {
    len: u32,
    /// The earliest start.
    base: u32,
    /// What every address of the arena leaves divided by its number of arenas.
    residue: u32,
    bytes: Box<[u8]>,
}

impl RetiredBlock {
    /// Packs `list`, ordered by address, of an arena whose addresses are alike modulo
    /// `stride` (in another order it still round-trips, only less tightly).
    pub fn pack(list: &[Retired<u32>], stride: u32) -> RetiredBlock {
        let base = list.iter().map(|r| r.start).min().unwrap_or(0);
        let residue = list.first().map_or(0, |r| r.addr % stride);
        let mut bytes = Vec::with_capacity(list.len() * 6);
        let mut place = 0u32;
        for r in list {
            let at = r.addr / stride;
            put(&mut bytes, at.wrapping_sub(place));
            place = at;
            put(&mut bytes, r.rest);
            put(&mut bytes, r.start - base);
        }
        RetiredBlock { len: list.len() as u32, base, residue, bytes: bytes.into_boxed_slice() }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Each connection, in the order packed.
    pub fn unpack(&self, stride: u32, mut each: impl FnMut(Retired<u32>)) {
        let (mut at, mut place) = (0usize, 0u32);
        for _ in 0..self.len {
            place = place.wrapping_add(get(&self.bytes, &mut at));
            let rest = get(&self.bytes, &mut at);
            let start = self.base + get(&self.bytes, &mut at);
            each(Retired { addr: place * stride + self.residue, rest, start });
        }
    }

    /// The same connections, their rest ids mapped by `rests` (another accumulator's ids to
    /// ours).
    pub fn remapped(&self, stride: u32, rests: &[u32]) -> RetiredBlock {
        let mut list = Vec::with_capacity(self.len());
        self.unpack(stride, |r| list.push(Retired { rest: rests[r.rest as usize], ..r }));
        RetiredBlock::pack(&list, stride)
    }
}

fn put(bytes: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        bytes.push(v as u8 | 0x80);
        v >>= 7;
    }
    bytes.push(v as u8);
}

fn get(bytes: &[u8], at: &mut usize) -> u32 {
    let mut v = 0u32;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        v |= u32::from(b & 0x7F).checked_shl(shift).unwrap_or(0);
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_gives_back_what_was_packed_in_few_bytes() {
        let stride = 64;
        let list: Vec<Retired<u32>> = (0..1000u32)
            .map(|i| Retired { addr: (i / 3) * stride + 5, rest: i % 7, start: 1_214_800_000 + i * 37 })
            .collect();
        let block = RetiredBlock::pack(&list, stride);
        let mut back = Vec::new();
        block.unpack(stride, |r| back.push(r));
        assert_eq!(back, list);
        assert_eq!(block.len(), 1000);
        assert!(block.bytes.len() <= 5 * 1000, "{} bytes", block.bytes.len());
    }

    #[test]
    fn extreme_values_and_any_order_round_trip() {
        let stride = 64;
        let list = vec![
            Retired { addr: u32::MAX - 63 + 7, rest: u32::MAX, start: u32::MAX },
            Retired { addr: 7, rest: 0, start: 0 },
            Retired { addr: 64 + 7, rest: 1 << 31, start: 1 << 20 },
        ];
        let block = RetiredBlock::pack(&list, stride);
        let mut back = Vec::new();
        block.unpack(stride, |r| back.push(r));
        assert_eq!(back, list);
    }

    #[test]
    fn remapping_changes_only_the_rest_ids() {
        let list: Vec<Retired<u32>> =
            (0..10u32).map(|i| Retired { addr: i * 64 + 3, rest: i % 2, start: 100 + i }).collect();
        let mut back = Vec::new();
        RetiredBlock::pack(&list, 64).remapped(64, &[5, 4]).unpack(64, |r| back.push(r));
        let want: Vec<Retired<u32>> = list.iter().map(|r| Retired { rest: 5 - r.rest, ..*r }).collect();
        assert_eq!(back, want);
    }
}
