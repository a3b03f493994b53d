import ArgumentParser

/// The one Greenwave executable. Each concern is a subcommand in its own file.
@main
struct Greenwave: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenwave",
        abstract: "Coordinate a corridor of traffic signals with a replicated, deterministic plan.",
        subcommands: [CorridorCommand.self]
    )
}
