//! Token-budget batching: which sentences go through the model together, and putting results back in order.
//!
//! [`plan_batches`] sorts items longest first (so each batch pads little) and fills each batch while its
//! padded cost — longest item × number of items — stays within the token budget, as CTranslate2 and
//! text-embeddings-inference do. [`scatter`] puts per-batch results back at the items' original places.
//! This module must never lose, duplicate or reorder an item's result, and never panic on bad input:
//! mismatched results are an error.

use crate::error::{Error, Result};

/// Group the indices of `lengths` (token counts) into batches.
///
/// Items are taken longest first (ties keep input order). A batch grows while
/// `max(length) × size ≤ max_batch_tokens` and `size ≤ max_batch_size`; an item that alone exceeds the
/// budget gets a batch of its own. Lengths count as at least 1, so empty items cannot pile up without
/// bound. `Some(0)` as `max_batch_size` means 1. Every index appears in exactly one batch.
pub fn plan_batches(
    lengths: &[usize],
    max_batch_tokens: usize,
    max_batch_size: Option<usize>,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let cap = max_batch_size.map_or(usize::MAX, |m| m.max(1));
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0usize;
    for i in order {
        let len = lengths[i].max(1);
        if !current.is_empty() {
            let widest = longest.max(len);
            let fits =
                current.len() < cap && widest.saturating_mul(current.len() + 1) <= max_batch_tokens;
            if fits {
                current.push(i);
                longest = widest;
                continue;
            }
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
        longest = len;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The padded cost of one batch: its longest item (at least 1) times its size. Indices past the end of
/// `lengths` count as length 1.
pub fn padded_cost(lengths: &[usize], batch: &[usize]) -> usize {
    let longest = batch
        .iter()
        .map(|&i| lengths.get(i).copied().unwrap_or(1).max(1))
        .max()
        .unwrap_or(0);
    longest.saturating_mul(batch.len())
}

/// Put per-batch results back at the original indices: `results[b][k]` is the result for item
/// `batches[b][k]`; the output holds `n` results in item order. Errors when the shapes do not match, an
/// index is out of range or repeated, or an item has no result.
pub fn scatter<T>(batches: &[Vec<usize>], results: Vec<Vec<T>>, n: usize) -> Result<Vec<T>> {
    if batches.len() != results.len() {
        return Err(Error::InvalidArgument(format!(
            "batch results do not match the plan: {} batches planned, {} result groups returned",
            batches.len(),
            results.len()
        )));
    }
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for (b, (batch, group)) in batches.iter().zip(results).enumerate() {
        if batch.len() != group.len() {
            return Err(Error::InvalidArgument(format!(
                "batch {b} had {} items but {} results came back",
                batch.len(),
                group.len()
            )));
        }
        for (&i, value) in batch.iter().zip(group) {
            let slot = slots.get_mut(i).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "batch {b} names item {i}, but there are only {n} items"
                ))
            })?;
            if slot.replace(value).is_some() {
                return Err(Error::InvalidArgument(format!(
                    "item {i} appears in more than one batch"
                )));
            }
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            s.ok_or_else(|| {
                Error::InvalidArgument(format!("item {i} is in no batch, so it has no result"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic pseudo-random numbers for the property loops.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n.max(1)) as usize
        }
    }

    fn check_plan(lengths: &[usize], budget: usize, cap: Option<usize>) {
        let batches = plan_batches(lengths, budget, cap);
        let mut seen = vec![0u32; lengths.len()];
        for b in &batches {
            assert!(!b.is_empty(), "empty batch in {batches:?}");
            for &i in b {
                seen[i] += 1;
            }
            if b.len() > 1 {
                assert!(
                    padded_cost(lengths, b) <= budget,
                    "over budget: {b:?} of {lengths:?}"
                );
            }
            if let Some(c) = cap {
                assert!(b.len() <= c.max(1));
            }
        }
        assert!(seen.iter().all(|&s| s == 1), "coverage {seen:?}");
        // Longest first across the whole plan, stable among equal lengths.
        let flat: Vec<usize> = batches.iter().flatten().copied().collect();
        for w in flat.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(lengths[a] > lengths[b] || (lengths[a] == lengths[b] && a < b));
        }
    }

    #[test]
    fn property_plan_covers_each_item_once_within_budget() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            let n = rng.below(60);
            let lengths: Vec<usize> = (0..n).map(|_| rng.below(130)).collect();
            let budget = rng.below(600);
            let cap = match rng.below(3) {
                0 => None,
                _ => Some(rng.below(9)),
            };
            check_plan(&lengths, budget, cap);
        }
    }

    #[test]
    fn greedy_fill_and_oversized_items() {
        // 10*3 = 30 fits, a 4th would cost 40; the 50 alone exceeds 30 and stands alone.
        let plan = plan_batches(&[10, 50, 10, 10, 10, 5], 30, None);
        assert_eq!(plan, vec![vec![1], vec![0, 2, 3], vec![4, 5]]);
        assert_eq!(
            plan_batches(&[3, 3, 3], 100, Some(2)),
            vec![vec![0, 1], vec![2]]
        );
        assert_eq!(plan_batches(&[3, 3], 100, Some(0)), vec![vec![0], vec![1]]);
        assert_eq!(plan_batches(&[0, 0, 0], 2, None), vec![vec![0, 1], vec![2]]);
        assert!(plan_batches(&[], 10, None).is_empty());
    }

    #[test]
    fn property_scatter_restores_order() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let n = rng.below(40);
            let lengths: Vec<usize> = (0..n).map(|_| 1 + rng.below(50)).collect();
            let batches = plan_batches(&lengths, 1 + rng.below(200), None);
            let results: Vec<Vec<String>> = batches
                .iter()
                .map(|b| b.iter().map(|i| format!("r{i}")).collect())
                .collect();
            let back = scatter(&batches, results, n).expect("shapes match");
            let want: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
            assert_eq!(back, want);
        }
    }

    #[test]
    fn scatter_rejects_bad_shapes() {
        let plan = vec![vec![1, 0], vec![2]];
        assert!(scatter(&plan, vec![vec!['b', 'a']], 3).is_err());
        assert!(scatter(&plan, vec![vec!['b'], vec!['c']], 3).is_err());
        assert!(scatter(&plan, vec![vec!['b', 'a'], vec!['c']], 2).is_err());
        assert!(scatter(&plan, vec![vec!['b', 'a'], vec!['c']], 4).is_err());
        assert!(scatter(&[vec![0], vec![0]], vec![vec![1], vec![2]], 1).is_err());
        assert_eq!(
            scatter(&plan, vec![vec!['b', 'a'], vec!['c']], 3).unwrap(),
            vec!['a', 'b', 'c']
        );
    }
}
