import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where SUMO's binaries are: tools/sumo/.venv (made by tools/sumo/setup), found from the current
/// directory or the executable upwards; else `$SUMO_HOME/bin`; else `sumo` on the PATH (Debian).
public struct SumoInstallation: Sendable {
    public var binDirectory: String
    /// SUMO_HOME for the child processes (nil: leave the environment as is).
    public var home: String?

    public var sumo: String { binDirectory + "/sumo" }
    public var netconvert: String { binDirectory + "/netconvert" }

    public static func locate() -> SumoInstallation? {
        let fm = FileManager.default
        var starts = [fm.currentDirectoryPath]
        starts.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path)
        #if DEBUG
            starts.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().path)
        #endif
        for start in starts {
            var dir = URL(fileURLWithPath: start).standardizedFileURL
            for _ in 0..<8 {
                if let found = inVenv(dir.appendingPathComponent("tools/sumo/.venv").path) { return found }
                let up = dir.deletingLastPathComponent()
                if up.path == dir.path { break }
                dir = up
            }
        }
        if let home = ProcessInfo.processInfo.environment["SUMO_HOME"], fm.isExecutableFile(atPath: home + "/bin/sumo")
        {
            return SumoInstallation(binDirectory: home + "/bin", home: home)
        }
        for p in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if fm.isExecutableFile(atPath: "\(p)/sumo"), fm.isExecutableFile(atPath: "\(p)/netconvert") {
                return SumoInstallation(binDirectory: String(p), home: nil)
            }
        }
        return nil
    }

    /// The eclipse-sumo wheel puts the real binaries in site-packages/sumo/bin (bin/sumo of the venv
    /// is a Python wrapper; the binary is run directly so that killing it kills SUMO).
    static func inVenv(_ venv: String) -> SumoInstallation? {
        let fm = FileManager.default
        guard let libs = try? fm.contentsOfDirectory(atPath: venv + "/lib") else { return nil }
        for py in libs.sorted() where py.hasPrefix("python") {
            let home = "\(venv)/lib/\(py)/site-packages/sumo"
            if fm.isExecutableFile(atPath: home + "/bin/sumo") {
                return SumoInstallation(binDirectory: home + "/bin", home: home)
            }
        }
        return nil
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        if let home { env["SUMO_HOME"] = home }
        return env
    }

    /// Runs a SUMO tool to completion; throws with its stderr if it fails.
    func run(_ tool: String, _ arguments: [String], logPath: String) throws {
        let (p, log) = try launch(tool, arguments, logPath: logPath)
        p.waitUntilExit()
        try? log.close()
        guard p.terminationStatus == 0 else {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw SumoError(
                "\(URL(fileURLWithPath: tool).lastPathComponent) failed (\(p.terminationStatus)): \(text.suffix(2000))")
        }
    }

    /// Starts `executable` with SUMO's environment, its standard output and error to `logPath` (the handle,
    /// for the caller to close once the process has exited).
    private func launch(
        _ executable: String, _ arguments: [String], logPath: String
    ) throws -> (Process, FileHandle) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.environment = environment
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        return (p, log)
    }

    /// Starts `sumo` (or `sumo-gui`) with these arguments; output to `logPath`.
    func start(_ arguments: [String], logPath: String, binary: String = "sumo") throws -> Process {
        try launch(binDirectory + "/" + binary, arguments, logPath: logPath).0
    }
}

/// A TCP port free right now on loopback (bind to 0, read it back, close).
func freeLoopbackPort() throws -> Int {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { throw SumoError("socket() failed") }
    defer { close(s) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { ptr in
        ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(s, sa, len) == 0 && getsockname(s, sa, &len) == 0
        }
    }
    guard ok else { throw SumoError("could not find a free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
