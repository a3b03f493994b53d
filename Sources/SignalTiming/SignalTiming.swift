// SignalTiming: the signal timing model of a corridor, as pure functions of integer milliseconds.
//
// Terminology (see docs/signal-timing.md for the full story):
// - A *corridor* is an ordered list of *signals* (intersections) along one road, each at a position
//   in metres from the first. Each signal has *phases* (movements with NEMA numbers: 2 and 6 the
//   arterial throughs, 5 and 1 the arterial right turns from 2's and 6's approach — Mumbai drives on
//   the left — 4 and 8 the
//   side street), a *conflict matrix* (pairs of phases that may never be green together) and an
//   ordered ring of *stages* (a stage is a set of mutually compatible phases that are green
//   together; Indian practice calls these stages). This is the sequential-ring model: one stage at a
//   time, every stage change passes through yellow and red clearance.
// - A *timing plan* (pattern) gives the cycle length, each stage's split (green + yellow + red
//   clearance), the coordinated stage and each signal's offset. The offset reference point is
//   NEMA TS2: the start of green of the coordinated stage. A signal's local cycle time is
//   `(t − referenceEpoch − offset) mod cycle`, and local cycle time 0 is the start of its
//   coordinated green.
// - A *timeline* is the replicated list of control events, each with the millisecond at which it
//   takes effect (plan change, hold/release, flash/unflash, preemption, cancel). The state of
//   signal S at time t is a pure function of (corridor, reference epoch, baseline, events, t):
//   `CorridorTimeline.state(of:at:)`.
//
// Invariants, by construction (checked by `ConflictMonitor` in the property tests):
// - no two conflicting phases are ever green together;
// - every green lasts at least its phase's min green and is followed by a yellow;
// - every yellow lasts at least its programmed yellow (≥ 3 s) and is followed by red;
// - after a yellow, no conflicting phase (and not the phase itself) turns green before the
//   programmed red clearance has elapsed.
// Commands never cut an interval short: they take effect at the next safe point.
//
// No Foundation, no floating point, no wall clock, no randomness: everything here is deterministic
// so that every replica computes exactly the same lamps.
