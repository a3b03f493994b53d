import ArgumentParser

/// `greenwave corridor …`: validate and draw corridor files.
struct CorridorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corridor",
        abstract: "Validate a corridor file or draw its time-space diagram.",
        subcommands: [CorridorCheckCommand.self, CorridorDiagramCommand.self]
    )
}
