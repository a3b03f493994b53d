import ArgumentParser
import Controller

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

    /// With `GREENWAVE_EVENT_LOOP=one` a field controller runs on one event loop (`ProcessThreads`, issue 19,
    /// opt-in); that has to be set up before anything else runs. Every other subcommand keeps the default pools.
    static func main() async {
        if CommandLine.arguments.dropFirst().first == ControllerCommand.configuration.commandName {
            ProcessThreads.useOneEventLoop()
        }
        await main(nil)
    }
}
