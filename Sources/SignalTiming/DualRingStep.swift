// One step of the dual-ring controller: inputs, calls, ring timing, barrier, coordination.
// See DualRingController.swift for the rules.

extension DualRingController {
    /// Advances by one step (`ActuatedLimits.tickMs`) to `nowMs + tickMs`, with this step's local
    /// inputs, and returns the events of the step in order.
    public mutating func step(_ inputs: ControllerInputs) -> [HiResEvent] {
        precondition(inputs.detectors.count == detectors.count, "one reading per detector")
        precondition(inputs.pedButtons.count == pedDetectors.count, "one reading per push button")
        nowMs += ActuatedLimits.tickMs
        var out: [HiResEvent] = []
        readDetectors(inputs, &out)
        updatePreempt(inputs.preempt, &out)
        placeRecalls(&out)
        for r in 0..<2 { timePed(r, &out) }
        for r in 0..<2 { timeRing(r, &out) }
        crossBarrierIfReady(&out)
        notePreemptDwell(&out)
        trackCoordination(&out)
        return out
    }

    // MARK: inputs and calls

    mutating func readDetectors(_ inputs: ControllerInputs, _ out: inout [HiResEvent]) {
        let t = nowMs
        for i in presence.indices { presence[i] = false }
        for (k, d) in detectors.enumerated() {
            out += tracks[k].take(inputs.detectors[k], at: t, id: d.id, maxPresenceMs: d.maxPresenceMs)
            guard tracks[k].present, let i = ring.index(of: d.phase) else { continue }
            if isGreen(i) {
                if d.extends {
                    presence[i] = true
                    let r = DualRing.ring(of: d.phase)
                    rings[r].gapEndMs = t + ring.phases[i].passageMs
                }
            } else if d.calls {
                registerCall(i, &out)
            }
        }
        for (k, b) in pedDetectors.enumerated() {
            let on = inputs.pedButtons[k]
            if on != buttons[k] {
                out.append(
                    HiResEvent(
                        atMs: t, code: on ? HiResEventCode.pedDetectorOn : HiResEventCode.pedDetectorOff, param: b.id))
                buttons[k] = on
            }
            if on, let i = ring.index(of: b.phase) { registerPedCall(i, &out) }
        }
    }

    func isGreen(_ i: Int) -> Bool {
        let r = rings[DualRing.ring(of: ring.phases[i].id)]
        return r.phase == i && r.interval == .green
    }

    mutating func registerCall(_ i: Int, _ out: inout [HiResEvent]) {
        guard !vehicleCall[i], !isGreen(i) else { return }
        vehicleCall[i] = true
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.phaseCallRegistered, param: ring.phases[i].id.rawValue))
    }

    /// A pedestrian call; ignored while the phase shows walk (that walk serves the pedestrian),
    /// kept for the next green during flashing don't-walk.
    mutating func registerPedCall(_ i: Int, _ out: inout [HiResEvent]) {
        let r = rings[DualRing.ring(of: ring.phases[i].id)]
        guard ring.phases[i].ped != nil, !pedCall[i], !(r.phase == i && r.ped == .walk) else { return }
        pedCall[i] = true
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.pedCallRegistered, param: ring.phases[i].id.rawValue))
        registerCall(i, &out)
    }

    /// Recalls, the coordinator's call on the coordinated phases, a failed detector's max recall,
    /// soft recall (only while nothing else calls), the preemption's call on its phases.
    mutating func placeRecalls(_ out: inout [HiResEvent]) {
        let lay = layout
        for (i, p) in ring.phases.enumerated() where !isGreen(i) {
            if p.recall == .minimum || p.recall == .maximum || onFaultRecall(i)
                || (coordinated && lay.coordinated.contains(i)) || (preemptOnSinceMs != nil && isPreemptTarget(i))
            {
                registerCall(i, &out)
            }
            if p.recall == .pedestrian { registerPedCall(i, &out) }
        }
        for (i, p) in ring.phases.enumerated() where p.recall == .soft && !isGreen(i) {
            let others = (0..<ring.phases.count).contains { $0 != i && (vehicleCall[$0] || pedCall[$0]) }
            if !others { registerCall(i, &out) }
        }
    }

    func hasCall(_ i: Int) -> Bool { vehicleCall[i] || pedCall[i] }

    /// Max recall: the phase is extended for ever (its max or its force-off ends it).
    func onMaxRecall(_ i: Int) -> Bool { ring.phases[i].recall == .maximum || onFaultRecall(i) }

    // MARK: preemption

    /// The preempted phases: the arterial throughs 2 and 6 (preemption needs both).
    func isPreemptTarget(_ i: Int) -> Bool { ring.phases[i].id == PhaseID(2) || ring.phases[i].id == PhaseID(6) }
    var preemptTargets: [Int]? {
        guard let a = ring.index(of: PhaseID(2)), let b = ring.index(of: PhaseID(6)) else { return nil }
        return [a, b]
    }

    mutating func updatePreempt(_ input: Bool, _ out: inout [HiResEvent]) {
        let t = nowMs
        let wasOn = preemptOnSinceMs != nil
        if !input { preemptDropped = false }
        var on = input && !preemptDropped && preemptTargets != nil
        if on, let since = preemptOnSinceMs, t - since >= Limits.preemptMaxPresenceMsDefault {
            on = false
            preemptDropped = true // a stuck call ends at the max presence
        }
        if on && !wasOn {
            preemptOnSinceMs = t
            preemptInDwell = false
            out.append(HiResEvent(atMs: t, code: HiResEventCode.preemptCallInputOn, param: 1))
            out.append(HiResEvent(atMs: t, code: HiResEventCode.preemptEntryStarted, param: 1))
            // Coordination is suspended while preempted; the exit is a transition back into step.
            if !layout.isFree { setCoordination(.transition, &out) }
        } else if !on && wasOn {
            preemptOnSinceMs = nil
            out.append(HiResEvent(atMs: t, code: HiResEventCode.preemptBeginExit, param: 1))
            transitionSinceMs = t
            setCoordination(layout.isFree ? .free : .transition, &out)
        }
    }

    /// The dwell begins when both preempted phases are green (event 107).
    mutating func notePreemptDwell(_ out: inout [HiResEvent]) {
        guard preemptOnSinceMs != nil, !preemptInDwell, let targets = preemptTargets,
            targets.allSatisfy({ isGreen($0) })
        else { return }
        preemptInDwell = true
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.preemptBeginDwell, param: 1))
    }

    // MARK: ring timing

    mutating func timePed(_ r: Int, _ out: inout [HiResEvent]) {
        let t = nowMs
        guard let i = rings[r].phase, rings[r].interval == .green, let ped = ring.phases[i].ped else { return }
        let id = ring.phases[i].id.rawValue
        if rings[r].ped == .walk, t >= rings[r].pedStartMs + ped.walkMs {
            rings[r].ped = .flashingDontWalk
            rings[r].pedStartMs = t
            out.append(HiResEvent(atMs: t, code: HiResEventCode.pedBeginClearance, param: id))
        } else if rings[r].ped == .flashingDontWalk, t >= rings[r].pedStartMs + ped.clearanceMs {
            rings[r].ped = .dontWalk
            rings[r].pedStartMs = t
            out.append(HiResEvent(atMs: t, code: HiResEventCode.pedBeginDontWalk, param: id))
        }
    }

    mutating func timeRing(_ r: Int, _ out: inout [HiResEvent]) {
        let t = nowMs
        guard let i = rings[r].phase else { return }
        let p = ring.phases[i]
        let id = p.id.rawValue
        switch rings[r].interval {
        case .green:
            if rings[r].maxStartMs == nil && demandsTermination(i) { rings[r].maxStartMs = t }
            guard t >= rings[r].greenStartMs + p.minGreenMs, rings[r].ped == .dontWalk,
                let reason = terminationReason(r, i)
            else { return }
            out.append(HiResEvent(atMs: t, code: reason, param: id))
            out.append(HiResEvent(atMs: t, code: HiResEventCode.phaseGreenTermination, param: id))
            out.append(HiResEvent(atMs: t, code: HiResEventCode.phaseBeginYellow, param: id))
            rings[r].interval = .yellow
            rings[r].intervalStartMs = t
        case .yellow:
            guard t >= rings[r].intervalStartMs + p.yellowMs else { return }
            out.append(HiResEvent(atMs: t, code: HiResEventCode.phaseEndYellow, param: id))
            out.append(HiResEvent(atMs: t, code: HiResEventCode.phaseBeginRedClearance, param: id))
            rings[r].interval = .redClear
            rings[r].intervalStartMs = t
        case .redClear:
            guard t >= rings[r].intervalStartMs + p.redClearanceMs else { return }
            out.append(HiResEvent(atMs: t, code: HiResEventCode.phaseEndRedClearance, param: id))
            out.append(HiResEvent(atMs: t, code: HiResEventCode.phaseInactive, param: id))
            rings[r].phase = nil
            rings[r].interval = .red
            rings[r].intervalStartMs = t
            startNextInGroup(r, after: i, &out)
        case .red:
            break
        }
    }

    /// Why the green of phase index i (ring r) ends now, if it does. Called only once its min
    /// green and its pedestrian intervals are over: nothing here can cut those short.
    func terminationReason(_ r: Int, _ i: Int) -> Int? {
        let t = nowMs
        let rs = rings[r]
        let p = ring.phases[i]
        if stopping { return HiResEventCode.phaseForceOff }
        if preemptOnSinceMs != nil {
            return holdsForPreempt(r, i) ? nil : HiResEventCode.phaseForceOff
        }
        let lay = layout
        if !lay.isFree, lay.coordinated[r] == i {
            let need = max(p.minGreenMs, rs.walkGiven ? p.ped!.serviceMs : 0)
            let yieldAt = lay.nextYield(ring: r, atOrAfter: rs.greenStartMs + need, referenceMs: referenceMs)
            return t >= yieldAt && servableDemand(i) ? HiResEventCode.phaseForceOff : nil
        }
        guard demandsTermination(i) else { return nil } // no one waiting: rest in green
        if let f = rs.forceOffAtMs, t >= f { return HiResEventCode.phaseForceOff }
        if let m = rs.maxStartMs, t >= m + p.maxGreenMs { return HiResEventCode.phaseMaxOut }
        let extended = onMaxRecall(i) || presence[i] || t < rs.gapEndMs
        return extended ? nil : HiResEventCode.phaseGapOut
    }

    /// During a preemption, a preempted phase holds green while the other ring is on, or can still
    /// reach, its preempted phase on this side of the barrier; every other green ends.
    func holdsForPreempt(_ r: Int, _ i: Int) -> Bool {
        guard isPreemptTarget(i), let targets = preemptTargets else { return false }
        let other = targets[1 - r]
        return rings[1 - r].phase == other || !passed(other)
    }

    /// Phase index j's ring has already left j on this side of the barrier (or j is on the other
    /// side): serving j needs a barrier crossing.
    func passed(_ j: Int) -> Bool {
        let id = ring.phases[j].id
        guard DualRing.group(of: id) == group else { return true }
        let rs = rings[DualRing.ring(of: id)]
        return rs.phase == nil || rs.passedMask & (1 << j) != 0
    }

    /// A call that cannot be served without ending phase index i: a conflicting phase's, or one
    /// of the other ring's on this side of the barrier that its ring has already passed.
    func demandsTermination(_ i: Int) -> Bool {
        for j in ring.phases.indices where j != i && hasCall(j) {
            if ring.conflictMatrix[i][j] { return true }
            if passed(j) { return true }
        }
        return false
    }

    /// Under coordination: a demand on a phase that can still get its min green before its
    /// force-off in its window once phase index i has cleared (the permissive window).
    func servableDemand(_ i: Int) -> Bool {
        let t = nowMs
        let lay = layout
        for j in ring.phases.indices where j != i && hasCall(j) && (ring.conflictMatrix[i][j] || passed(j)) {
            let rj = DualRing.ring(of: ring.phases[j].id)
            if lay.coordinated[rj] == j { return true }
            let z = lay.cycleZero(ring: rj, at: t, referenceMs: referenceMs)
            if t + ring.phases[i].clearanceMs + ring.phases[j].minGreenMs <= z + lay.forceOffMs[j] { return true }
        }
        return false
    }
}

extension DualRingController {
    // MARK: starting phases

    /// Whether phase index i (ring r) may start now, with its force-off and whether its walk is
    /// given. Free or preempted: always (no walk during a preemption). Coordinated: the coordinated
    /// phase always; another phase only if its min green fits before its force-off in this cycle,
    /// and its walk only if walk + clearance fit too.
    func startability(_ r: Int, _ i: Int) -> (ok: Bool, forceOffMs: Milliseconds?, walk: Bool) {
        let t = nowMs
        let p = ring.phases[i]
        let wantWalk = pedCall[i] && p.ped != nil && preemptOnSinceMs == nil
        let lay = layout
        if lay.isFree || preemptOnSinceMs != nil || lay.coordinated[r] == i { return (true, nil, wantWalk) }
        let forceOff = lay.cycleZero(ring: r, at: t, referenceMs: referenceMs) + lay.forceOffMs[i]
        if wantWalk, t + max(p.minGreenMs, p.ped!.serviceMs) <= forceOff { return (true, forceOff, true) }
        return t + p.minGreenMs <= forceOff ? (true, forceOff, false) : (false, nil, false)
    }

    /// After red clearance (of phase index `last`): the next called, startable phase of ring r on
    /// this side of the barrier, or red at the barrier. Phases the current sequence puts before
    /// `last` count as passed (after a plan change with another lead/lag, the ring does not go back).
    mutating func startNextInGroup(_ r: Int, after last: Int? = nil, _ out: inout [HiResEvent]) {
        guard !stopping else { return }
        let seq = layout.sequence[r]
        if let last, let pos = seq.firstIndex(of: last) {
            for k in seq[..<pos] { rings[r].passedMask |= 1 << k }
        }
        for i in seq where DualRing.group(of: ring.phases[i].id) == group && rings[r].passedMask & (1 << i) == 0 {
            rings[r].passedMask |= 1 << i
            if preemptOnSinceMs != nil && !isPreemptTarget(i) { continue }
            guard hasCall(i) else { continue } // phase skip: no call
            let s = startability(r, i)
            if s.ok {
                startGreen(r, i, forceOffMs: s.forceOffMs, walk: s.walk, &out)
                return
            }
        }
        // Done with this side: wait at the barrier.
    }

    mutating func startGreen(_ r: Int, _ i: Int, forceOffMs: Milliseconds?, walk: Bool, _ out: inout [HiResEvent]) {
        let t = nowMs
        let id = ring.phases[i].id.rawValue
        precondition(rings[r].phase == nil && rings[r].interval == .red, "a ring starts a green only from red")
        rings[r] = RingState(
            phase: i, passedMask: rings[r].passedMask | 1 << i, interval: .green, intervalStartMs: t, greenStartMs: t,
            gapEndMs: t, maxStartMs: nil, forceOffAtMs: forceOffMs, ped: .dontWalk, pedStartMs: t, walkGiven: walk)
        vehicleCall[i] = false
        // The max timer starts with the green if a conflicting call is already waiting.
        if demandsTermination(i) { rings[r].maxStartMs = t }
        out.append(HiResEvent(atMs: t, code: HiResEventCode.phaseBeginGreen, param: id))
        if walk {
            pedCall[i] = false
            rings[r].ped = .walk
            out.append(HiResEvent(atMs: t, code: HiResEventCode.pedBeginWalk, param: id))
        }
    }

    /// Both rings red at the barrier (and the start-up red over): cross to the side with calls
    /// (the other side first), and start each ring's first called phase there; a ring with none
    /// there serves its dual-entry phase if the other ring serves something.
    mutating func crossBarrierIfReady(_ out: inout [HiResEvent]) {
        guard !stopping, nowMs >= startupRedEndMs, allRed else { return }
        let target: Int
        if preemptOnSinceMs != nil, let targets = preemptTargets {
            target = DualRing.group(of: ring.phases[targets[0]].id)
        } else if groupHasCall(1 - group) {
            target = 1 - group
        } else if groupHasCall(group) {
            target = group
        } else {
            return // nothing is called anywhere: rest in red
        }
        group = target
        out.append(HiResEvent(atMs: nowMs, code: HiResEventCode.barrierTermination, param: target + 1))
        for r in 0..<2 {
            rings[r].passedMask = 0
            startNextInGroup(r, &out)
        }
        for r in 0..<2 where rings[r].phase == nil && rings[1 - r].phase != nil && preemptOnSinceMs == nil {
            startDualEntry(r, &out)
        }
    }

    func groupHasCall(_ g: Int) -> Bool {
        ring.phases.indices.contains { DualRing.group(of: ring.phases[$0].id) == g && hasCall($0) }
    }

    mutating func startDualEntry(_ r: Int, _ out: inout [HiResEvent]) {
        for i in layout.sequence[r] where DualRing.group(of: ring.phases[i].id) == group && ring.phases[i].dualEntry {
            let s = startability(r, i)
            if s.ok {
                startGreen(r, i, forceOffMs: s.forceOffMs, walk: s.walk, &out)
                return
            }
        }
    }

    // MARK: coordination state

    /// At each local zero: in transition, in step once the reference coordinated phase (the
    /// earlier-starting one) is green there and neither ring is still timing a non-coordinated
    /// phase begun before the transition (it may carry the old plan's force-off). In step, a local
    /// zero without that green drops back to transition (and says so in the log).
    mutating func trackCoordination(_ out: inout [HiResEvent]) {
        let lay = layout
        guard !lay.isFree, preemptOnSinceMs == nil else { return }
        let t = nowMs
        guard lay.nextZero(atOrAfter: t, referenceMs: referenceMs) == t else { return }
        let r0 = lay.windowStartMs[lay.coordinated[0]] <= lay.windowStartMs[lay.coordinated[1]] ? 0 : 1
        let c = lay.coordinated[r0]
        let green = rings[r0].phase == c && rings[r0].interval == .green
        let settled = rings.allSatisfy { r in
            r.phase.map { lay.coordinated.contains($0) || r.greenStartMs >= transitionSinceMs } ?? true
        }
        if coordination == .transition, green, settled {
            setCoordination(.inStep, &out)
        } else if coordination == .inStep, !green {
            transitionSinceMs = t
            setCoordination(.transition, &out)
        }
    }
}
