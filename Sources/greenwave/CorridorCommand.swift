import ArgumentParser

/// `greenwave corridor …`: validate and draw corridor files.
struct CorridorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corridor",
        abstract: "Validate a corridor file, draw its time-space diagram, or optimise a plan's offsets.",
        subcommands: [CorridorCheckCommand.self, CorridorDiagramCommand.self, CorridorOptimizeCommand.self]
    )
}
