import Foundation
import NIOCore
import NIOPosix

/// How many threads a controller process runs on (issue 19, item 4: "fewer threads per process").
///
/// A controller used to run on three pools: SwiftNIO's singleton event loops (one per core, the HTTP API),
/// a one-thread group of its own (the peer transport) and Swift concurrency's cooperative pool (the Raft
/// driver, the lamp driver, every task). Each command and each heartbeat crossed between them, and the
/// profile of docs/performance.md put the kernel's thread switches at a quarter of the leader's CPU.
///
/// With `GREENWAVE_EVENT_LOOP=one`, `useOneEventLoop()` makes the singleton group one event loop and
/// installs it as Swift concurrency's global executor, so that the API, the transport, the actors and the
/// tasks all run on that one thread and a hop between them is a call on the same thread, not a wake-up of
/// another. Durable writes keep their own queue (`RaftDriver.writerQueue`): an fsync never stalls the loop.
///
/// It is **opt-in**, not the default: measured side by side (docs/performance.md, "One event loop") it
/// took a controller from 8 threads to 6 but moved neither the commit latency, the throughput nor the idle
/// CPU beyond the benchmarks' noise, and on one loop the transport's time stamps (corridor time) would wait
/// behind the driver's work, which a thread of their own does not.
public enum ProcessThreads {
    /// `one`: run the controller on one event loop (see above); anything else: the default pools.
    public static let environmentVariable = "GREENWAVE_EVENT_LOOP"

    /// Must run first in `main`, on the main thread, before any task or NIO singleton is used, and at most
    /// once. Returns whether the one loop is in use (false: not asked for with `GREENWAVE_EVENT_LOOP=one`,
    /// or the runtime refused the executor hook; then the default pools run).
    @discardableResult
    public static func useOneEventLoop(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard environment[environmentVariable] == "one" else { return false }
        NIOSingletons.groupLoopCountSuggestion = 1
        NIOSingletons.blockingPoolThreadCountSuggestion = 1
        let installed = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        oneLoop = installed
        return installed
    }

    /// Whether `useOneEventLoop()` took effect in this process.
    public nonisolated(unsafe) private(set) static var oneLoop = false
}
