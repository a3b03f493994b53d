import Foundation
import SignalTiming

/// The local detector inputs of one actuated controller (issue 20 item 4): what a detector card, a test or a
/// simulator says each vehicle detector reads and each push button does. Set through `PUT /v1/detectors`
/// (HTTPServer+Detectors.swift); sampled by the lamp driver once per 100 ms step. Never replicated: actuation is
/// each controller's own, within the replicated plan.
///
/// Until a reading is first set, every detector reads `absent` (no card has spoken): the controller logs a
/// watchdog fault (85) and puts its phase on max recall, so an actuated signal without a card runs every phase
/// every cycle, as fixed-time. A detector set `on` and then `off` again between two steps, or a push button
/// pressed and released between them, is still seen once (latched until sampled).
public final class DetectorPanel: @unchecked Sendable {
    public let detectors: [DetectorConfig]
    public let pushButtons: [PedDetectorConfig]
    private let lock = NSLock()
    private var readings: [DetectorReading]
    private var onLatched: [Bool]
    private var buttons: [Bool]
    private var pressLatched: [Bool]
    private var changes: UInt64 = 0

    public init(detectors: [DetectorConfig], pushButtons: [PedDetectorConfig]) {
        self.detectors = detectors
        self.pushButtons = pushButtons
        readings = detectors.map { _ in .absent }
        onLatched = detectors.map { _ in false }
        buttons = pushButtons.map { _ in false }
        pressLatched = pushButtons.map { _ in false }
    }

    /// Sets some readings (by channel number); every channel must exist. All or nothing.
    public func set(detectors d: [Int: DetectorReading], pushButtons b: [Int: Bool]) throws {
        var di: [(Int, DetectorReading)] = []
        for (id, r) in d.sorted(by: { $0.key < $1.key }) {
            guard let k = detectors.firstIndex(where: { $0.id == id }) else {
                throw TimingError(
                    "no detector \(id) (detectors: \(detectors.map { "\($0.id)" }.joined(separator: ", ")))")
            }
            di.append((k, r))
        }
        var bi: [(Int, Bool)] = []
        for (id, on) in b.sorted(by: { $0.key < $1.key }) {
            guard let k = pushButtons.firstIndex(where: { $0.id == id }) else {
                throw TimingError(
                    "no push button \(id) (push buttons: \(pushButtons.map { "\($0.id)" }.joined(separator: ", ")))")
            }
            bi.append((k, on))
        }
        lock.withLock {
            for (k, r) in di {
                readings[k] = r
                if r == .on { onLatched[k] = true }
            }
            for (k, on) in bi {
                buttons[k] = on
                if on { pressLatched[k] = true }
            }
            changes &+= 1
        }
    }

    /// This step's inputs (latched pulses included, then cleared).
    public func sample() -> ControllerInputs {
        lock.withLock {
            let d = readings.indices.map { onLatched[$0] && readings[$0] == .off ? .on : readings[$0] }
            let b = buttons.indices.map { buttons[$0] || pressLatched[$0] }
            for k in onLatched.indices { onLatched[k] = false }
            for k in pressLatched.indices { pressLatched[k] = false }
            return ControllerInputs(detectors: d, pedButtons: b)
        }
    }

    /// The readings as set (for the API's answer).
    public func current() -> (detectors: [Int: DetectorReading], pushButtons: [Int: Bool]) {
        lock.withLock {
            (
                Dictionary(uniqueKeysWithValues: zip(detectors.map(\.id), readings)),
                Dictionary(uniqueKeysWithValues: zip(pushButtons.map(\.id), buttons))
            )
        }
    }
}
