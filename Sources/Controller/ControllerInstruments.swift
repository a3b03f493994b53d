import CoreMetrics
import Transport

/// The controller's named metrics (docs/operations.md, "Metrics"). Three kinds of update:
/// - counted where it happens (the driver increments `proposals`, times `persist`, …);
/// - mirrored from a total another module keeps (`MirroredCounter`: the Raft core's elections and
///   malformed messages, the transport's counters), when `/metrics` is read;
/// - gauges of current state (term, indexes, health, corridor time), set when `/metrics` is read, so that
///   the page shows the state at the moment it is read.
final class ControllerInstruments: Sendable {
    let metrics: ControllerMetrics

    // Counted by the driver.
    let proposals: Counter
    let proposalBatches: Counter
    let auditCheckpointMismatches: Counter
    let lampEventsRecorded: Counter
    let lampEventsDropped: Counter
    let lampEventWriteFailures: Counter
    let persist: CoreMetrics.Timer

    // Gauges and mirrors, set by `collect`.
    let healthOK, term, isLeader, commitIndex, appliedIndex, applyLag, leaderClockOffsetMs: Gauge
    let elections, malformedDropped: MirroredCounter
    let transportInboundPending, transportInboundAccepted: Gauge
    let transport: [(MirroredCounter, @Sendable (TransportMetrics) -> Int)]
    let clockSynced, clockOffsetMs, clockUncertaintyMs, clockDriftPpm, clockAlarm, clockResidualMs: Gauge

    /// Upper bounds of the persistence latency buckets (as before the move to swift-metrics).
    static let persistBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1)
    ]

    init(_ m: ControllerMetrics) {
        metrics = m
        proposals = m.counter("greenwave_raft_proposals_total", "Commands proposed on this controller while leading.")
        proposalBatches = m.counter(
            "greenwave_raft_proposal_batches_total",
            "Batches of API commands the leader handed to Raft: commands that arrived while its log write was in flight go together (issue 19)."
        )
        auditCheckpointMismatches = m.counter(
            "greenwave_audit_checkpoint_mismatches_total",
            "Audit checkpoints whose chain head differed from this replica's own chain (docs/audit.md).")
        lampEventsRecorded = m.counter(
            "greenwave_lamp_events_total",
            "Lamp events (hi-res event log rows) sent towards the driver's next group commit.")
        lampEventsDropped = m.counter(
            "greenwave_lamp_events_dropped_total",
            "Lamp events lost before storage: the channel to the driver was full, or too many waited for a store that kept failing (the event log has a gap)."
        )
        lampEventWriteFailures = m.counter(
            "greenwave_lamp_event_write_failures_total",
            "Writes whose lamp event rows failed: the Raft state and audit rows of the write are stored without them, and the lamp events are retried (Raft goes on)."
        )
        persist = m.timer(
            "greenwave_persist_seconds", "Time to make one Ready durable (one SQLite transaction).",
            buckets: Self.persistBuckets)

        healthOK = m.gauge(
            "greenwave_health_ok", "1 while healthy; 0 after a fail-stop (see /v1/status health_reason).")
        term = m.gauge("greenwave_raft_term", "Current Raft term.")
        isLeader = m.gauge("greenwave_raft_is_leader", "1 when this controller leads.")
        commitIndex = m.gauge("greenwave_raft_commit_index", "Highest log index known committed.")
        appliedIndex = m.gauge(
            "greenwave_raft_applied_index", "Highest log index applied to the corridor state machine.")
        applyLag = m.gauge("greenwave_raft_apply_lag", "Committed entries not yet applied.")
        leaderClockOffsetMs = m.gauge(
            "greenwave_leader_clock_offset_ms",
            "This controller's clock minus the leader's timestamp of the last command applied.")
        elections = MirroredCounter(m.counter("greenwave_raft_elections_total", "Elections this controller started."))
        malformedDropped = MirroredCounter(
            m.counter(
                "greenwave_raft_malformed_dropped_total",
                "Peer messages dropped by the Raft core as malformed (out-of-range terms or indexes, inconsistent appends)."
            ))
        transportInboundPending = m.gauge(
            "greenwave_transport_inbound_pending", "Inbound connections waiting for their hello.")
        transportInboundAccepted = m.gauge("greenwave_transport_inbound_accepted", "Inbound connections from members.")
        transport = Self.transportCounters(m)
        clockSynced = m.gauge(
            "greenwave_clock_synced", "1 while corridor time is known (a majority of the voters' clocks measured).")
        clockOffsetMs = m.gauge("greenwave_clock_offset_ms", "Corridor time minus this controller's own clock.")
        clockUncertaintyMs = m.gauge(
            "greenwave_clock_uncertainty_ms", "Half the round trip of the time sample the offset comes from.")
        clockDriftPpm = m.gauge("greenwave_clock_drift_ppm", "This controller's clock rate minus corridor time's.")
        clockAlarm = m.gauge(
            "greenwave_clock_alarm",
            "1 while this controller's clock is farther from corridor time than the alarm bound.")
        clockResidualMs = m.gauge(
            "greenwave_clock_residual_ms",
            "Corridor time as estimated minus as the lamps read it (what slewing still has to remove).")
    }

    private static func transportCounters(
        _ m: ControllerMetrics
    ) -> [(MirroredCounter, @Sendable (TransportMetrics) -> Int)] {
        func c(
            _ name: String, _ help: String, _ read: @escaping @Sendable (TransportMetrics) -> Int
        ) -> (MirroredCounter, @Sendable (TransportMetrics) -> Int) {
            (MirroredCounter(m.counter(name, help)), read)
        }
        return [
            c("greenwave_transport_messages_sent_total", "Raft messages sent.") { $0.messagesSent },
            c("greenwave_transport_messages_dropped_total", "Raft messages dropped by full send queues.") {
                $0.messagesDropped
            },
            c("greenwave_transport_decode_errors_total", "Malformed frames received.") { $0.decodeErrors },
            c(
                "greenwave_transport_protocol_errors_total",
                "Inbound connections closed for a protocol violation (wrong corridor, non-member hello, message before hello, …)."
            ) { $0.protocolErrors },
            c(
                "greenwave_transport_tls_handshake_failures_total",
                "Peer TLS handshakes that failed (no certificate, not from the corridor CA, expired, plaintext peer)."
            ) { $0.tlsHandshakeFailures },
            c(
                "greenwave_transport_certificate_refusals_total",
                "Peer connections closed because the certificate's identity did not fit (another corridor, a non-member, a hello naming another node, not the intended peer)."
            ) { $0.certificateRefusals },
            c(
                "greenwave_transport_pending_evicted_total",
                "Connections without an accepted hello closed to make room in the pending pool."
            ) { $0.pendingEvicted },
            c(
                "greenwave_transport_member_connections_replaced_total",
                "A member's oldest inbound connection closed for its newer one."
            ) { $0.memberConnectionsReplaced },
            c(
                "greenwave_transport_log_lines_suppressed_total",
                "Warnings about bad input not logged because of the rate limit."
            ) { $0.logLinesSuppressed },
            c("greenwave_transport_time_samples_total", "Time exchanges with peers completed.") { $0.timeSamples }
        ]
    }

    /// Sets the gauges and mirrors from the state at this moment (called by `GET /metrics`).
    func collect(driver d: DriverMetrics, transport t: TransportMetrics, clock c: ClockReport) {
        healthOK.record(d.healthy ? 1 : 0)
        term.record(Int64(clamping: d.term))
        isLeader.record(d.isLeader ? 1 : 0)
        commitIndex.record(Int64(clamping: d.commitIndex))
        appliedIndex.record(Int64(clamping: d.appliedIndex))
        applyLag.record(Int64(clamping: d.commitIndex > d.appliedIndex ? d.commitIndex - d.appliedIndex : 0))
        leaderClockOffsetMs.record(d.leaderClockOffsetMs)
        elections.mirror(total: d.elections)
        malformedDropped.mirror(total: d.malformedDropped)
        transportInboundPending.record(Int64(t.inboundPending))
        transportInboundAccepted.record(Int64(t.inboundAccepted))
        for (counter, read) in transport { counter.mirror(total: read(t)) }
        clockSynced.record(c.synced ? 1 : 0)
        clockOffsetMs.record(Double(c.offsetUs) / 1000)
        clockUncertaintyMs.record(Double(c.uncertaintyUs) / 1000)
        clockDriftPpm.record((c.driftPpm * 10).rounded() / 10)
        clockAlarm.record(c.alarm ? 1 : 0)
        clockResidualMs.record(Double(c.residualUs) / 1000)
    }
}
