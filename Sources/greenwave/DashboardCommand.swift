import ArgumentParser
import Console
import CorridorFile
import CorridorMachine
import Dashboard
import Foundation

/// `greenwave dashboard`: the operator's full-screen view of a running corridor, and its master console.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Full-screen live view of a corridor's signals and controllers; ':' opens the command line.",
        discussion: """
            Shows every signal's lamps in road order, the cluster (leader, term, commit, mode in force and
            pending), and per controller its role, applied index and lag, whether its state hash agrees with
            the leader's, and its phase skew. Keys: ':' command line (mode PLAN, hold S12, release S12,
            flash [S12], unflash [S12], preempt S05-S11 DIRECTION, cancel INDEX), '[' and ']' page,
            q or Ctrl-C quit. NO_COLOR=1 turns colour off.
            """
    )

    @Option(help: "The corridor file (controllers' addresses).") var corridor: String =
        "corridors/western-express-highway.yaml"
    @Option(help: caHelp) var ca: String?
    @Option(
        help:
            "Your operator key file; default $GREENWAVE_KEY. Commands typed here are signed with it; without one the dashboard is view only."
    )
    var key: String?
    @Option(help: "Screen updates per second.") var refresh: Int = 10

    func run() async throws {
        let doc = try clientDocument(corridor, ca: ca)
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1 else {
            throw ValidationError("the dashboard needs a terminal; use 'greenwave status' in scripts")
        }
        let app: DashboardApp
        do {
            app = try DashboardApp(document: doc, signer: try optionalOperatorKey(key), refreshPerSecond: refresh)
        } catch let e as ValidationError {
            throw e
        } catch { throw ValidationError("\(error)") }
        await app.run()
    }
}
