// Live mode: SUMO in real time, lights from the running controllers' lamp streams.
import Foundation
import Logging
import SignalTiming

public struct LiveEndpoint: Sendable, Hashable {
    public var signal: SignalID
    public var host: String
    public var port: Int
    public init(signal: SignalID, host: String, port: Int) {
        self.signal = signal
        self.host = host
        self.port = port
    }
}

public struct LiveOptions: Sendable {
    public var network: NetworkOptions
    public var seed: Int
    public var gui: Bool
    public var durationSeconds: Double?
    public var workDirectory: String
    public var stepMs: Int64 = 100
    public init(network: NetworkOptions = NetworkOptions(), seed: Int = 1, gui: Bool = false, durationSeconds: Double? = nil,
                workDirectory: String) {
        self.network = network
        self.seed = seed
        self.gui = gui
        self.durationSeconds = durationSeconds
        self.workDirectory = workDirectory
    }
}

public func runLive(corridor: Corridor, endpoints: [LiveEndpoint], options: LiveOptions, sumo: SumoInstallation,
                    logger: Logger) async throws {
    throw SumoError("live mode not implemented yet")
}
