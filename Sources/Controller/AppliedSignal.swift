import Foundation

/// Says that the applied state changed (entries applied, a snapshot installed), so that the lamp driver
/// sleeps until its next lamp change or until this fires, instead of asking the Raft driver every
/// 100 ms (issue 19: 47 controllers polling cost CPU for nothing while the corridor is idle).
///
/// A counter and at most one waiter, under a lock; `notify` never blocks and never suspends.
final class AppliedSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var version: UInt64 = 0
    private var waiter: (token: UInt64, continuation: CheckedContinuation<Void, Never>)?
    private var nextToken: UInt64 = 0

    /// Changes (by one) with every `notify`.
    var current: UInt64 { lock.withLock { version } }

    func notify() {
        let c: CheckedContinuation<Void, Never>? = lock.withLock {
            version &+= 1
            defer { waiter = nil }
            return waiter?.continuation
        }
        c?.resume()
    }

    /// Returns once `current` differs from `seen`, after `timeoutNs`, or when the task is cancelled —
    /// whichever comes first. One waiter at a time (the lamp driver).
    func wait(seen: UInt64, timeoutNs: UInt64) async {
        let token: UInt64 = lock.withLock {
            nextToken &+= 1
            return nextToken
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: timeoutNs)
            self?.release(token)
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now: Bool = lock.withLock {
                    if version != seen || Task.isCancelled { return true }
                    precondition(waiter == nil, "AppliedSignal has one waiter at a time")
                    waiter = (token, c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            release(token)
        }
    }

    /// Resumes the waiter of `token`, if it still waits (a timer or a cancellation).
    private func release(_ token: UInt64) {
        let c: CheckedContinuation<Void, Never>? = lock.withLock {
            guard let w = waiter, w.token == token else { return nil }
            waiter = nil
            return w.continuation
        }
        c?.resume()
    }
}
