import ArgumentParser
import RaftSimulation

/// `tools/simulate`: runs many seeds of the deterministic cluster simulator.
@main
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenwave-simulate",
        abstract: "Run the deterministic Raft cluster simulator over many seeds."
    )

    @Option(help: "How many seeds to run.") var seeds: Int = 100
    @Option(help: "The first seed.") var start: UInt64 = 1
    @Option(help: "Voting members.") var nodes: Int = 5
    @Option(help: "Learners (non-voting members).") var learners: Int = 2
    @Option(help: "Steps of the fault phase per seed.") var steps: Int = 2500
    @Flag(help: "Print the full trace of each failing seed (of every seed with --seeds 1).") var trace = false
    @Flag(help: "Print one line per seed (commits, elections, most messages in flight).") var verbose = false
    @Flag(help: "Disable PreVote.") var noPreVote = false
    @Flag(help: "Disable log compaction and snapshot transfer.") var noCompaction = false
    @Flag(help: "Disable membership changes (adding, promoting, removing members).") var noMembership = false
    @Flag(help: "Disable leadership transfers.") var noTransfer = false
    @Option(help: "Spare nodes that membership changes may add.") var spares: Int = 2
    @Flag(help: "Serve reads from the leader's lease; nodes tick together (no clock drift).") var leaseReads = false
    @Flag(help: "With --lease-reads, let clocks drift without bound (expect stale reads).") var clockDrift = false
    @Flag(help: "Disable CheckQuorum.") var noCheckQuorum = false

    func validate() throws {
        guard seeds > 0 else { throw ValidationError("--seeds must be positive") }
        guard (1...9).contains(nodes) else { throw ValidationError("--nodes must be between 1 and 9") }
        guard (0...16).contains(learners) else { throw ValidationError("--learners must be between 0 and 16") }
        guard steps > 0 else { throw ValidationError("--steps must be positive") }
    }

    func run() throws {
        var options = SimulationOptions()
        options.voters = nodes
        options.learners = learners
        options.faultSteps = steps
        options.preVote = !noPreVote
        options.checkQuorum = !noCheckQuorum
        options.compaction = !noCompaction
        options.membershipChanges = !noMembership
        options.transfers = !noTransfer
        options.spares = spares
        options.leaseReads = leaseReads
        options.clockDrift = clockDrift
        let clock = ContinuousClock()
        let started = clock.now
        var coverage = Coverage()
        var longestLiveness = 0
        var violations = 0
        var commits = 0
        var elections = 0
        for seed in start..<start + UInt64(seeds) {
            let result = Simulation.run(seed: seed, options: options)
            commits += result.commits
            let c = result.coverage
            coverage.lagTransfers += c.lagTransfers
            coverage.refusedTransfers += c.refusedTransfers
            coverage.staleTimeoutNow += c.staleTimeoutNow
            coverage.staleLeaderMessages += c.staleLeaderMessages
            coverage.longerFollowerAppends += c.longerFollowerAppends
            coverage.suffixesOverwritten += c.suffixesOverwritten
            coverage.earlyMembershipChanges += c.earlyMembershipChanges
            coverage.snapshotsAcrossMembership += c.snapshotsAcrossMembership
            coverage.readsReleased += c.readsReleased
            coverage.readsAtDeposedLeader += c.readsAtDeposedLeader
            coverage.delayedMessages += c.delayedMessages
            coverage.proposalsRedirected += c.proposalsRedirected
            if result.violations.isEmpty { longestLiveness = max(longestLiveness, result.livenessRounds) }
            if verbose {
                print(
                    "seed \(seed): commits \(result.commits), elections \(result.elections), snapshots installed \(result.snapshotsInstalled) (largest \(result.largestSnapshotBytes) B), membership changes \(result.membershipChanges), in flight at most \(result.maxInFlight), violations \(result.violations.count)"
                )
            }
            elections += result.elections
            if trace && seeds == 1 && result.violations.isEmpty {
                var o = options
                o.recordTrace = true
                for line in Simulation.run(seed: seed, options: o).trace { print("    \(line)") }
            }
            if !result.violations.isEmpty {
                violations += result.violations.count
                print(
                    "seed \(seed) FAILED (replay: tools/simulate --seeds 1 --start \(seed) --nodes \(nodes) --learners \(learners) --steps \(steps) --trace)"
                )
                for v in result.violations { print("  \(v)") }
                if trace {
                    var o = options
                    o.recordTrace = true
                    for line in Simulation.run(seed: seed, options: o).trace { print("    \(line)") }
                }
            }
        }
        let d = clock.now - started
        let secs = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        if verbose {
            print("coverage: \(coverage)")
            print("longest passing liveness phase: \(longestLiveness) rounds")
        }
        print(
            "seeds: \(seeds), violations: \(violations), commits: \(commits), elections: \(elections), wall \(Double(Int(secs * 10)) / 10) s, \(Int(Double(seeds) / max(secs, 0.001) * 60)) seeds/min"
        )
        if violations > 0 { throw ExitCode(1) }
    }
}
