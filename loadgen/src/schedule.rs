//! The open-model schedule: arrival `i` is due at `i / rate` seconds after the
//! start, whatever happened to the earlier ones, through three phases in a row
//! (the same phases as `k6/bench.js`'s scenarios).

use std::time::Duration;

/// The phase an arrival belongs to; only `Step` is measured by `make bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    Step,
    Cooldown,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Warmup, Phase::Step, Phase::Cooldown];

    /// The scenario tag k6 would give it (`sagactl bench step` reads `step`).
    pub fn scenario(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Step => "step",
            Phase::Cooldown => "cooldown",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A constant arrival rate over warm-up, step and cool-down (whole seconds).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub rate: u64,
    pub warmup_s: u64,
    pub duration_s: u64,
    pub cooldown_s: u64,
}

impl Schedule {
    pub fn arrivals(&self) -> u64 {
        self.rate * (self.warmup_s + self.duration_s + self.cooldown_s)
    }

    /// When arrival `i` is due, from the start of the schedule. Computed from
    /// `i` rather than added up, so rounding never drifts.
    pub fn due(&self, i: u64) -> Duration {
        Duration::from_nanos((u128::from(i) * 1_000_000_000 / u128::from(self.rate)) as u64)
    }

    pub fn phase(&self, i: u64) -> Phase {
        if i < self.rate * self.warmup_s {
            Phase::Warmup
        } else if i < self.rate * (self.warmup_s + self.duration_s) {
            Phase::Step
        } else {
            Phase::Cooldown
        }
    }

    /// Seconds a phase lasts (the denominator of its per-second rates).
    pub fn seconds(&self, phase: Phase) -> u64 {
        match phase {
            Phase::Warmup => self.warmup_s,
            Phase::Step => self.duration_s,
            Phase::Cooldown => self.cooldown_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: Schedule = Schedule {
        rate: 3,
        warmup_s: 1,
        duration_s: 2,
        cooldown_s: 1,
    };

    #[test]
    fn arrivals_are_evenly_spaced_from_the_start() {
        assert_eq!(SCHEDULE.arrivals(), 12);
        assert_eq!(SCHEDULE.due(0), Duration::ZERO);
        assert_eq!(SCHEDULE.due(1), Duration::from_nanos(333_333_333));
        assert_eq!(SCHEDULE.due(3), Duration::from_secs(1));
        assert_eq!(SCHEDULE.due(11), Duration::from_nanos(3_666_666_666));
    }

    #[test]
    fn a_long_run_at_a_high_rate_does_not_drift() {
        let schedule = Schedule {
            rate: 4000,
            warmup_s: 0,
            duration_s: 3600,
            cooldown_s: 0,
        };
        assert_eq!(schedule.due(4000 * 3600), Duration::from_secs(3600));
        assert_eq!(
            schedule.due(4000 * 1800 + 1),
            Duration::from_nanos(1_800_000_250_000)
        );
    }

    #[test]
    fn each_phase_gets_rate_times_its_seconds_arrivals() {
        let phases: Vec<Phase> = (0..SCHEDULE.arrivals())
            .map(|i| SCHEDULE.phase(i))
            .collect();
        let count = |p| phases.iter().filter(|&&q| q == p).count();
        assert_eq!(count(Phase::Warmup), 3);
        assert_eq!(count(Phase::Step), 6);
        assert_eq!(count(Phase::Cooldown), 3);
        assert_eq!(phases[2], Phase::Warmup);
        assert_eq!(phases[3], Phase::Step);
        assert_eq!(phases[8], Phase::Step);
        assert_eq!(phases[9], Phase::Cooldown);
    }

    #[test]
    fn without_warmup_the_step_starts_at_once() {
        let schedule = Schedule {
            rate: 10,
            warmup_s: 0,
            duration_s: 1,
            cooldown_s: 0,
        };
        assert_eq!(schedule.phase(0), Phase::Step);
        assert_eq!(schedule.arrivals(), 10);
    }
}
