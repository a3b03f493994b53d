import CoreMetrics
import NIOConcurrencyHelpers
import Prometheus

/// One controller's metrics: swift-metrics instruments (`Counter`, `Gauge`, `Timer`) whose backend is a
/// Prometheus registry of this controller's own, rendered by `GET /metrics` (docs/operations.md lists them).
///
/// Why not `MetricsSystem.bootstrap`: the bootstrap is once per process, and a process may hold several
/// controllers (the in-process tests start several; a tool may too). Every instrument here is made with
/// `factory:` naming this controller's factory, so that two controllers in one process never share or
/// overwrite a series, and nothing a library emits through the global system lands on `/metrics`.
///
/// Adding a metric is one line where it happens — `metrics.counter("greenwave_x_total", "What it counts.").increment()`
/// — or one stored instrument in `ControllerInstruments` when it is updated often. Every series carries the
/// label `signal="N"`.
public final class ControllerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: HelpTextPrometheusFactory
    let dimensions: [(String, String)]

    public init(signal: Int) {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        self.factory = HelpTextPrometheusFactory(registry: registry)
        self.dimensions = [("signal", "\(signal)")]
    }

    /// A counter (monotonic; Prometheus type `counter`). The same name gives the same series.
    public func counter(_ name: String, _ help: String) -> CoreMetrics.Counter {
        factory.describe(name, help)
        return CoreMetrics.Counter(label: name, dimensions: dimensions, factory: factory)
    }

    /// A gauge (a value that goes up and down; Prometheus type `gauge`).
    public func gauge(_ name: String, _ help: String) -> CoreMetrics.Gauge {
        factory.describe(name, help)
        return CoreMetrics.Gauge(label: name, dimensions: dimensions, factory: factory)
    }

    /// A timer (Prometheus type `histogram`, in seconds) with these bucket bounds.
    public func timer(_ name: String, _ help: String, buckets: [Duration]) -> CoreMetrics.Timer {
        factory.describe(name, help, buckets: buckets)
        return CoreMetrics.Timer(label: name, dimensions: dimensions, factory: factory)
    }

    /// The Prometheus text exposition (format 0.0.4) of every series registered so far.
    public func render() -> String { registry.emitToString() }
}

/// A counter the shell does not count itself but reads as a total from its owner (RaftCore counts in
/// plain integers: it is standard library only; the transport counts under its own lock and its tests
/// read `TransportMetrics`). `mirror(total:)` adds what the total grew by since the last call, so the
/// swift-metrics counter stays monotonic and equal to the owner's total.
final class MirroredCounter: Sendable {
    private let counter: CoreMetrics.Counter
    private let seen = NIOLockedValueBox<Int64>(0)

    init(_ counter: CoreMetrics.Counter) { self.counter = counter }

    func mirror<T: BinaryInteger>(total: T) {
        let value = Int64(clamping: total)
        let delta: Int64 = seen.withLockedValue { last in
            defer { last = max(last, value) }
            return value > last ? value - last : 0
        }
        if delta > 0 { counter.increment(by: delta) }
    }
}

/// swift-metrics' factory over a Prometheus registry that, unlike `PrometheusMetricsFactory`, keeps each
/// metric's `# HELP` line (the registry requires the same help text for every series of a name, so it is
/// looked up here by name) and per-name histogram buckets.
final class HelpTextPrometheusFactory: MetricsFactory, Sendable {
    let registry: PrometheusCollectorRegistry
    private let described = NIOLockedValueBox<(help: [String: String], buckets: [String: [Duration]])>(([:], [:]))

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// Records `help` (and `buckets`) for `name`; the first description of a name stays.
    func describe(_ name: String, _ help: String, buckets: [Duration]? = nil) {
        described.withLockedValue { d in
            if d.help[name] == nil { d.help[name] = help }
            if let buckets, d.buckets[name] == nil { d.buckets[name] = buckets }
        }
    }

    private func descriptor(_ name: String) -> MetricNameDescriptor {
        let help = described.withLockedValue { $0.help[name] } ?? ""
        return MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    static let defaultBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(10)
    ]

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        // A recorder that aggregates would be a value histogram; the controller has none, so every
        // recorder is a gauge (as `CoreMetrics.Gauge` asks for).
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let buckets = described.withLockedValue { $0.buckets[label] } ?? Self.defaultBuckets
        return registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let h = handler as? Prometheus.DurationHistogram { registry.unregisterDurationHistogram(h) }
    }
}
