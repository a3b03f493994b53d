import ArgumentParser
import Console
import CorridorFile
import Foundation
import GreenwaveAPI
import SignalTiming

/// `greenwave schedule show|set|clear`: the corridor's time-of-day schedule (docs/operations.md, "Schedule").
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Show, replace or remove the corridor's time-of-day schedule.",
        subcommands: [Show.self, SetSchedule.self, Clear.self])

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clear",
            abstract:
                "Remove the schedule (an engineer's command): at the next cycle boundary the plan in force stays and the mode changes only by 'greenwave mode' again."
        )
        @OptionGroup var options: ConsoleOptions

        func run() async throws {
            try await runConsoleCommand(options) { id, seq in
                CommandRequest(operator: "", clientID: id, sequence: seq, type: "schedule_clear")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "The mode in force (schedule or override, until when), the next changes and the schedule.")
        @Option(help: "The corridor file.") var corridor: String = "corridors/western-express-highway.yaml"
        @Option(help: caHelp) var ca: String?
        @Option(help: "An operator key file, for controllers whose reads need a credential; default $GREENWAVE_KEY.")
        var key: String?
        @Flag(help: "Print the controller's answer as JSON.") var json = false

        func run() async throws {
            let doc = try clientDocument(corridor, ca: ca)
            var client = try consoleClient(doc)
            client.reader = try optionalOperatorKey(key)
            guard let r = await client.schedule() else {
                FileHandle.standardError.write(Data("greenwave: no controller answered /v1/schedule\n".utf8))
                throw ExitCode(2)
            }
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try e.encode(r), as: UTF8.self))
                return
            }
            print(Self.describe(r))
        }

        static func describe(_ r: ScheduleResponse) -> String {
            let offset = r.utcOffsetMinutes ?? 0
            func local(_ ms: Int64) -> String { localTime(ms, offsetMinutes: offset) }
            var lines: [String] = []
            var mode = "mode \(r.mode) from the \(r.modeSource)"
            if let by = r.modeOrderedBy { mode += " (\(by))" }
            mode += " since \(local(r.modeSinceMs))"
            mode += r.modeUntilMs.map { ", until \(local($0))" } ?? ", no change known"
            lines.append(mode)
            for c in r.upcoming.prefix(8) { lines.append("  then \(c.plan) (\(c.source)) from \(local(c.atMs))") }
            if let s = r.schedule {
                lines.append(
                    "schedule in force since \(r.scheduleSinceMs.map(local) ?? "?"), set by \(r.scheduleSetBy ?? "?"):")
                lines.append(s.trimmingCharacters(in: .newlines))
            } else {
                lines.append("no schedule: the mode changes only by command")
            }
            return lines.joined(separator: "\n")
        }
    }

    struct SetSchedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract:
                "Replace the schedule (an engineer's command) from a YAML file with a 'schedule:' section; it takes over at the next cycle boundary."
        )
        @Argument(
            help: "A YAML file whose one key is 'schedule:' (the corridor file's section, docs/corridor-format.md).")
        var file: String
        @OptionGroup var options: ConsoleOptions

        func run() async throws {
            let doc = try options.document()
            guard let data = FileManager.default.contents(atPath: file), data.count <= CommandRequest.maxScheduleBytes,
                let text = String(data: data, encoding: .utf8)
            else {
                throw ValidationError(
                    "\(file): cannot read it as UTF-8 of at most \(CommandRequest.maxScheduleBytes) bytes")
            }
            // Checked here against the corridor file's plans for a clear error before anything is signed; the
            // replicas check it again against the corridor's plans as they are.
            do { _ = try CorridorFile.parseSchedule(yaml: text, file: file, plans: doc.corridor.plans.map(\.id)) } catch
            {
                throw ValidationError("\(error)")
            }
            try await runConsoleCommand(options) { id, seq in
                var r = CommandRequest(operator: "", clientID: id, sequence: seq, type: "schedule")
                r.schedule = text
                return r
            }
        }
    }
}

/// `ms` as local time at a fixed UTC offset: `2025-01-06 08:00:00 +05:30`.
func localTime(_ ms: Int64, offsetMinutes: Int) -> String {
    let local = ms + Int64(offsetMinutes) * 60_000
    let day = local >= 0 ? local / 86_400_000 : (local - 86_399_999) / 86_400_000
    let msOfDay = local - day * 86_400_000
    let date = CivilDate(daysSinceUnixEpoch: day).map(\.description) ?? "day \(day)"
    let s = msOfDay / 1000
    func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
    let sign = offsetMinutes < 0 ? "-" : "+"
    return
        "\(date) \(two(s / 3600)):\(two(s / 60 % 60)):\(two(s % 60)) \(sign)\(ScheduleAction.timeText(abs(offsetMinutes)))"
}

/// `--until`: `next`, a local time `HH:MM` (the next such time, in the schedule's UTC offset), or ms since
/// the Unix epoch. Returns the request's `until` text.
func parseUntil(_ text: String, offsetMinutes: Int, nowMs: Int64) -> String? {
    if text == "next" { return "next" }
    if let minute = ScheduleAction.parseTime(text) {
        let offset = Int64(offsetMinutes) * 60_000
        let local = nowMs + offset
        let dayStart = (local >= 0 ? local / 86_400_000 : (local - 86_399_999) / 86_400_000) * 86_400_000
        var t = dayStart + Int64(minute) * 60_000 - offset
        if t <= nowMs { t += 86_400_000 }
        return String(t)
    }
    if let ms = Int64(text), ms >= Limits.earliestTimeMs, ms <= Limits.latestTimeMs { return text }
    return nil
}
