import ArgumentParser
import CorridorMachine
import Foundation

/// Replays a `ReplayLog` (CorridorMachine) and prints `<index> <state hash>` after every entry:
/// two processes fed the same log must print the same lines (the determinism test runs this).
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Apply a CorridorMachine replay log and print the state hash after every index."
    )

    @Option(help: "The replay log file (CorridorMachine.ReplayLog encoding).")
    var log: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: log) else {
            throw ValidationError("cannot read \(log)")
        }
        let replayLog: ReplayLog
        do {
            replayLog = try ReplayLog.decode([UInt8](data))
        } catch {
            throw ValidationError("\(log): \(error)")
        }
        var out = ""
        for (index, hash) in try replayLog.replay() {
            out += "\(index) \(hex(hash))\n"
        }
        FileHandle.standardOutput.write(out.data(using: .utf8)!)
    }
}
