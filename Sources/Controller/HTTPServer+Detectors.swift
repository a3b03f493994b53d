import Foundation
import GreenwaveAPI
import HTTPTypes
import Hummingbird
import NIOCore
import SignalTiming

/// `PUT /v1/detectors` (docs/operations.md, "Detector inputs"): an actuated controller's local inputs.
///
/// ```json
/// {"detectors": {"4": "on", "8": "off"}, "push_buttons": {"4": true}}
/// ```
/// Readings: `off`, `on`, `open_loop`, `shorted_loop`, `absent`; a push button is pressed (`true`) or not.
/// Channels not named keep their reading. Answer: every channel's reading as set.
///
/// Who may: the cabinet only. The route answers only when the API listens on a loopback address (only this
/// machine can reach it); a controller whose API faces the network refuses it (403), whatever credential is
/// offered, since a detector card sits in the cabinet, not on the corridor network. When reads need a
/// credential (`--read-access signed`) it needs one too, signed for `PUT /v1/detectors`. Like commands, a request
/// a web browser made is refused and only JSON is taken (so a page on this machine cannot drive the inputs).
struct DetectorsRequest: Codable {
    var detectors: [String: String]?
    var pushButtons: [String: Bool]?
    enum CodingKeys: String, CodingKey {
        case detectors
        case pushButtons = "push_buttons"
    }
}

struct DetectorsResponse: Codable {
    var signal: Int
    var detectors: [String: String]
    var pushButtons: [String: Bool]
    enum CodingKeys: String, CodingKey {
        case signal, detectors
        case pushButtons = "push_buttons"
    }
}

extension DetectorReading {
    static let names: [String: DetectorReading] = [
        "off": .off, "on": .on, "open_loop": .openLoop, "shorted_loop": .shortedLoop, "absent": .absent
    ]
    var name: String { Self.names.first { $0.value == self }!.key }
}

extension HTTPAPI {
    /// Largest body taken: 128 entries of a few bytes fit many times over.
    static let detectorsBodyMax = 4_096
    static let detectorsEntriesMax = 128

    func handleDetectors(_ request: Request) async -> Response {
        guard let panel = lamps.detectors else {
            return json(
                ErrorResponse(error: "signal \(options.signal) is fixed-time: it has no detector inputs"),
                status: .notFound)
        }
        guard isLoopbackHost(options.apiListen.host) else {
            return json(
                ErrorResponse(
                    error:
                        "detector inputs are local: this controller's API listens on \(options.apiListen.host), not a loopback address"
                ), status: .forbidden)
        }
        if options.readsNeedCredential {
            let m = await driver.machineCopy()
            if let why = ReadCredential.problem(
                request.headers[HTTPField.Name(ReadCredential.headerName)!], corridorID: options.document.id,
                method: "PUT", path: request.uri.path, nowMs: clock.corridorMs(), machine: m)
            {
                return json(ErrorResponse(error: "unauthorized: \(why)"), status: .unauthorized)
            }
        }
        if let refused = refusedWriteOrigin(request, what: "detector inputs") { return refused }
        let tooLarge = { () -> Response in
            var r = json(
                ErrorResponse(error: "request body larger than \(Self.detectorsBodyMax) bytes"),
                status: .contentTooLarge)
            r.headers[.connection] = "close"
            return r
        }
        if let declared = request.headers[.contentLength], let n = Int(declared), n > Self.detectorsBodyMax {
            return tooLarge()
        }
        guard let body = try? await request.body.collect(upTo: Self.detectorsBodyMax) else { return tooLarge() }
        switch Self.parseDetectors(Data(buffer: body)) {
        case .failure(let e):
            return json(ErrorResponse(error: e.message), status: .badRequest)
        case .success(let (d, b)):
            do { try panel.set(detectors: d, pushButtons: b) } catch let e as TimingError {
                return json(ErrorResponse(error: e.message), status: .badRequest)
            } catch {
                return json(ErrorResponse(error: "\(error)"), status: .badRequest)
            }
        }
        let now = panel.current()
        return json(
            DetectorsResponse(
                signal: options.signal.rawValue,
                detectors: Dictionary(uniqueKeysWithValues: now.detectors.map { ("\($0.key)", $0.value.name) }),
                pushButtons: Dictionary(uniqueKeysWithValues: now.pushButtons.map { ("\($0.key)", $0.value) })))
    }

    /// The body, checked: channel numbers 1...64, known reading names, at most 128 entries.
    static func parseDetectors(_ bytes: Data) -> Result<([Int: DetectorReading], [Int: Bool]), TimingError> {
        guard let req = try? JSONDecoder().decode(DetectorsRequest.self, from: bytes) else {
            return .failure(
                TimingError(
                    "malformed detector JSON: expected {\"detectors\": {\"4\": \"on\"}, \"push_buttons\": {\"4\": true}}"
                ))
        }
        let d = req.detectors ?? [:]
        let b = req.pushButtons ?? [:]
        guard d.count + b.count <= detectorsEntriesMax else {
            return .failure(TimingError("\(d.count + b.count) entries exceed \(detectorsEntriesMax)"))
        }
        func channel(_ s: String) -> Int? {
            guard s.utf8.count <= 2, let n = Int(s), (1...ActuatedLimits.detectorsMax).contains(n) else { return nil }
            return n
        }
        var out: [Int: DetectorReading] = [:]
        for (k, v) in d {
            guard let n = channel(k) else {
                return .failure(
                    TimingError("detector channel '\(k.prefix(16))' is not 1...\(ActuatedLimits.detectorsMax)"))
            }
            guard let r = DetectorReading.names[v] else {
                return .failure(
                    TimingError(
                        "detector \(n): reading '\(v.prefix(16))' is not one of \(DetectorReading.names.keys.sorted().joined(separator: ", "))"
                    ))
            }
            out[n] = r
        }
        var buttons: [Int: Bool] = [:]
        for (k, v) in b {
            guard let n = channel(k) else {
                return .failure(
                    TimingError("push button channel '\(k.prefix(16))' is not 1...\(ActuatedLimits.detectorsMax)"))
            }
            buttons[n] = v
        }
        return .success((out, buttons))
    }
}
