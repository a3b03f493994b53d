import ArgumentParser

struct GreenwaveBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenwave-bench",
        abstract: "Benchmarks and fault-injection helpers for Greenwave.",
        subcommands: [StorageBenchmark.self, CrashWriter.self, ReplayCommand.self, SigningBenchmark.self]
    )
}
