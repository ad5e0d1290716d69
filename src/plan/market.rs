//! The per-node CPU market: water-filling with floors and caps.
//!
//! Every participant first gets its floor. What remains is shared in proportion to the bids;
//! a participant whose share would pass its cap gets the cap, drops out, and the rest is
//! shared again among the others. Allocations are whole millicores and never sum to more
//! than the capacity.

/// One participant: floor and cap in millicores, bid ≥ 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bidder {
    pub floor: i64,
    pub cap: i64,
    pub bid: f64,
}

/// Allocates `capacity` millicores; `None` when the floors alone do not fit.
pub fn water_fill(capacity: i64, bidders: &[Bidder]) -> Option<Vec<i64>> {
    let floors: i64 = bidders.iter().map(|b| b.floor.max(0)).sum();
    if floors > capacity {
        return None;
    }
    let mut alloc: Vec<i64> = bidders.iter().map(|b| b.floor.max(0)).collect();
    let mut remaining = capacity - floors;
    let mut active: Vec<usize> = (0..bidders.len())
        .filter(|&i| {
            bidders[i].bid > 0.0 && bidders[i].bid.is_finite() && alloc[i] < bidders[i].cap
        })
        .collect();
    while remaining > 0 && !active.is_empty() {
        let total: f64 = active.iter().map(|&i| bidders[i].bid).sum();
        let mut capped = Vec::new();
        for &i in &active {
            let share = remaining as f64 * bidders[i].bid / total;
            if alloc[i] as f64 + share >= bidders[i].cap as f64 {
                capped.push(i);
            }
        }
        if capped.is_empty() {
            for &i in &active {
                alloc[i] += (remaining as f64 * bidders[i].bid / total).floor() as i64;
            }
            break;
        }
        for &i in &capped {
            let give = (bidders[i].cap - alloc[i]).min(remaining).max(0);
            alloc[i] += give;
            remaining -= give;
        }
        active.retain(|i| !capped.contains(i));
    }
    Some(alloc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(floor: i64, cap: i64, bid: f64) -> Bidder {
        Bidder { floor, cap, bid }
    }

    #[test]
    fn shares_follow_bids_above_floors() {
        let a = water_fill(4000, &[b(0, 10_000, 3.0), b(0, 10_000, 1.0)]).unwrap();
        assert_eq!(a, vec![3000, 1000]);
    }

    #[test]
    fn caps_clamp_and_the_rest_is_redistributed() {
        let a = water_fill(4000, &[b(0, 1000, 3.0), b(0, 10_000, 1.0)]).unwrap();
        assert_eq!(a, vec![1000, 3000]);
    }

    #[test]
    fn floors_come_first_and_infeasible_floors_are_refused() {
        let a = water_fill(1000, &[b(800, 2000, 0.0), b(100, 2000, 1.0)]).unwrap();
        assert_eq!(a, vec![800, 200]);
        assert!(water_fill(500, &[b(400, 900, 1.0), b(200, 900, 1.0)]).is_none());
    }

    #[test]
    fn never_more_than_capacity() {
        let a = water_fill(1001, &[b(0, 5000, 1.0), b(0, 5000, 1.0), b(0, 5000, 1.0)]).unwrap();
        assert!(a.iter().sum::<i64>() <= 1001);
        assert!(a.iter().all(|&x| x == 333));
    }
}
