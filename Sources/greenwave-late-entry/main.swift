// Runs many seeded late-entry histories (see SignalTimingSimulation) and prints what they measured.
//   greenwave-late-entry [--histories N] [--start S] [--jump] [--threads T]
// --jump runs the lamp logic the controller had before safe late entry (show whatever schedule is
// known, jump when it changes): the histories should then find monitor trips.
// Exits non-zero on any monitor trip or any signal not back on the schedule within the bound.
import Dispatch
import Foundation
import SignalTiming
import SignalTimingSimulation

var histories = 100_000
var start: UInt64 = 0
var logic = LampLogic.follower
var threads = 2
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--histories": histories = Int(args.popFirst() ?? "") ?? histories
    case "--start": start = UInt64(args.popFirst() ?? "") ?? start
    case "--threads": threads = max(1, Int(args.popFirst() ?? "") ?? threads)
    case "--jump": logic = .jumpToSchedule
    default:
        FileHandle.standardError.write(
            "usage: greenwave-late-entry [--histories N] [--start S] [--jump] [--threads T]\n".data(using: .utf8)!)
        exit(2)
    }
}

/// History i's seed (the property test uses the same mapping).
nonisolated func seed(_ i: UInt64) -> UInt64 { 0x6C61_7465_656E_7472 &+ i &* 0x9E37_79B9_7F4A_7C15 }

/// The workers' results, gathered under a lock.
final class Collector: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var total = LateEntryReport()
    private(set) var failures: [String] = []
    func add(_ r: LateEntryReport, _ errs: [String]) {
        lock.lock()
        total.add(r)
        failures += errs
        lock.unlock()
    }
}

let began = DispatchTime.now().uptimeNanoseconds
nonisolated func runAll(count: Int, first: UInt64, logic: LampLogic, workers: Int) -> Collector {
    let collector = Collector()
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        var mine = LateEntryReport()
        var errs: [String] = []
        var i = w
        while i < count {
            let s = seed(first + UInt64(i))
            do { mine.add(try LateEntryHistories.run(seed: s, logic: logic)) } catch {
                errs.append("history \(s): \(error)")
            }
            i += workers
        }
        collector.add(mine, errs)
    }
    return collector
}
let collector = runAll(count: histories, first: start, logic: logic, workers: threads)
let total = collector.total
let failures = collector.failures
let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9

func percentile(_ xs: [Int64], _ p: Int) -> Int64 {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s[min(s.count - 1, (s.count - 1) * p / 100)]
}
let mc = total.convergenceMilliCycles
func cycles(_ m: Int64) -> String { String(format: "%.2f", Double(m) / 1000) }
print(
    "lamp logic: \(logic == .follower ? "SignalFollower (safe late entry, start-up sequence)" : "jump to schedule (before late entry)")"
)
print(
    "histories: \(total.histories) (seeds from \(start)), signals: \(total.signals), commands: \(total.commands), lamp changes checked: \(total.lampChanges)"
)
print(
    "isolations: \(total.isolations), restarts: \(total.restarts), snapshot installs: \(total.snapshots), late entries: \(total.lateEntries)"
)
print(
    "monitor trips: \(total.trips.count) (controller boots that tripped; in \(Set(total.trips.map(\.seed)).count) of the histories)"
)
if logic == .follower {
    print(
        "back on the schedule: \(total.convergenceMs.count) signals had to converge, \(total.alreadyOnSchedule) already on it; bound \(LateEntry.convergenceCyclesMax) cycles of the longest plan"
    )
    print(
        "convergence (cycles of the longest plan): p50 \(cycles(percentile(mc, 50))), p90 \(cycles(percentile(mc, 90))), p99 \(cycles(percentile(mc, 99))), max \(cycles(mc.max() ?? 0)); ms: p50 \(percentile(total.convergenceMs, 50)), p99 \(percentile(total.convergenceMs, 99)), max \(total.convergenceMs.max() ?? 0)"
    )
    let up = total.startupToInStepMs
    let red = total.startupAllRedMs
    print(
        "start-up on the final schedule (\(up.count) start-ups, random start-up flash 0-20 s): start to in step p50 \(percentile(up, 50)) ms, p99 \(percentile(up, 99)) ms, max \(up.max() ?? 0) ms; start-up all-red p50 \(percentile(red, 50)) ms, p99 \(percentile(red, 99)) ms, max \(red.max() ?? 0) ms"
    )
    print("not back within the bound: \(total.late.count)")
}
print(
    String(format: "time: %.1f s, %.0f histories/s (%d threads)", seconds, Double(total.histories) / seconds, threads))
for f in failures.prefix(5) { print("error: \(f)") }
for t in total.trips.prefix(5) { print("trip: \(t.fault)") }
for l in total.late.prefix(5) { print("late: \(l.detail)") }
let bad = !failures.isEmpty || (logic == .follower && (!total.trips.isEmpty || !total.late.isEmpty))
exit(bad ? 1 : 0)
