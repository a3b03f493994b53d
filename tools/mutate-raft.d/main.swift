// The runner `tools/mutate-raft` builds against a mutated copy of RaftCore: N seeds of the standard
// simulator run, with a wall budget, and one summary line the harness parses.
//   mutant-sim <seeds> <start> <budget-seconds>
import RaftSimulation

let args = CommandLine.arguments
let seeds = args.count > 1 ? Int(args[1]) ?? 200 : 200
let start = args.count > 2 ? UInt64(args[2]) ?? 1 : 1
let budget = args.count > 3 ? Double(args[3]) ?? 120 : 120
let clock = ContinuousClock()
let t0 = clock.now
func elapsed() -> Double {
    let d = clock.now - t0
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
func f1(_ x: Double) -> String { String(Double(Int(x * 10)) / 10) }
var failing = 0
var run = 0
var first: UInt64 = 0
var firstAt = 0.0
var firstViolation = ""
for seed in start ..< start + UInt64(seeds) {
    if elapsed() > budget { break }
    let r = Simulation.run(seed: seed, options: SimulationOptions())
    run += 1
    if !r.violations.isEmpty {
        failing += 1
        if first == 0 {
            first = seed
            firstAt = elapsed()
            firstViolation = r.violations[0]
        }
        print("seed \(seed) FAILED: \(r.violations[0])")
    }
}
print("RESULT failing=\(failing) run=\(run) first=\(first) firstsecs=\(f1(firstAt)) secs=\(f1(elapsed())) violation=\(firstViolation)")
