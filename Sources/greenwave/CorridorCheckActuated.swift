import CorridorFile
import SignalTiming

extension CorridorCheckCommand {
    /// The `actuated:` section: which signals run the dual-ring controller, and per phase with a crossing the
    /// pedestrian minimum split (walk + crossing ÷ walking speed + yellow + all-red) against every plan's split.
    func printActuated(_ doc: CorridorDocument) {
        guard let a = doc.actuated else {
            print("actuated  none (every signal fixed-time)")
            return
        }
        let c = doc.corridor
        let actuated = c.signals.filter { a.control(of: $0.id) == .actuated }
        print(
            "actuated  \(actuated.count) of \(c.signals.count) signals: \(actuated.map(\.id.description).joined(separator: ", "))"
        )
        for (i, s) in c.signals.enumerated() {
            guard let st = a.settings[s.id], let mins = try? ActuatedCorridor.pedestrianMinimumsMs(s, settings: st),
                !mins.isEmpty || st.control == .actuated
            else { continue }
            var line = "  signal \(s.id) (\(s.name)): \(st.control.rawValue)"
            if let m = a.signals[s.id] {
                line += ", \(m.detectors.count) detectors, \(m.pushButtons.count) push buttons"
            }
            print(line)
            for (phase, need) in mins {
                guard let k = s.stages.firstIndex(where: { $0.phases.contains(phase) }) else { continue }
                let splits = c.plans.filter { !$0.isFlash }.map { "\($0.id) \(fmt($0.signals[i].splitsMs[k]))" }
                print(
                    "    phase \(phase) pedestrian minimum \(fmt(need)) s (walk \(fmt(st.walkMs)) s, "
                        + "\(fmt(Milliseconds(st.phases[phase]?.crossingMm ?? 0))) m at \(fmt(Milliseconds(st.walkingSpeedMmPerS))) m/s); "
                        + "splits: \(splits.joined(separator: ", ")) s")
            }
        }
    }
}
