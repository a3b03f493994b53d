import ArgumentParser

/// The one Greenwave executable. Each concern is a subcommand in its own file.
@main
struct Greenwave: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenwave",
        abstract: "Coordinate a corridor of traffic signals with a replicated, deterministic plan.",
        subcommands: [
            DemoCommand.self, ControllerCommand.self, StatusCommand.self, ModeCommand.self, ScheduleCommand.self,
            HoldCommand.self, ReleaseCommand.self, FlashCommand.self,
            UnflashCommand.self, PreemptCommand.self, CorridorCommand.self, AuditCommand.self, DashboardCommand.self,
            SumoCommand.self,
            PKICommand.self, OperatorCommand.self
        ]
    )
}
