// Membership changes, snapshots and leadership transfer: the parts of Raft a long-running corridor
// needs beyond the basic algorithm.

extension RaftNode {
    // MARK: - Membership

    /// Index of the newest configuration entry in the log (0 when the membership comes from the
    /// snapshot or the bootstrap configuration).
    public var latestConfigIndex: LogIndex { configHistory.last?.index ?? log.offset }

    /// Proposes one membership change. Leader only. Refused while another change is uncommitted,
    /// before the leader has committed an entry of its own term (the fix to single-server changes
    /// described in Ongaro's 2015 raft-dev note), during a leadership transfer, and when promoting a
    /// learner that has not caught up with the commit index.
    @discardableResult
    public mutating func proposeMembershipChange(_ change: MembershipChange) -> ProposeResult {
        guard halted == nil else { return .dropped(reason: "node halted") }
        guard role == .leader else { return .notLeader(leader: leader) }
        guard transferee == noNode else { return .dropped(reason: "leadership transfer to \(transferee) in progress") }
        guard latestConfigIndex <= log.committed else {
            return .dropped(reason: "the membership change at index \(latestConfigIndex) is not committed yet")
        }
        guard log.term(at: log.committed) == term else {
            return .dropped(reason: "the leader has not committed an entry of its term yet")
        }
        if case .promote(let learner) = change {
            let match = progress[learner]?.match ?? 0
            guard match >= log.committed else {
                return .dropped(reason: "learner \(learner) has not caught up (at \(match), commit \(log.committed))")
            }
        }
        let next: Membership
        switch membership.applying(change) {
        case .success(let m): next = m
        case .failure(let e): return .dropped(reason: e.description)
        }
        let index = log.lastIndex + 1
        log.appendNew([Entry(term: term, index: index, kind: .config, data: next.encoded())])
        noteLogChange(from: index)
        bcastAppend()
        return .appended(firstIndex: index, lastIndex: index, term: term)
    }

    /// Recomputes the membership after entries from `index` on were appended or replaced.
    mutating func noteLogChange(from index: LogIndex) {
        while let last = configHistory.last, last.index >= index { configHistory.removeLast() }
        var i = max(index, log.firstIndex)
        while i <= log.lastIndex { // bounded by the entries just appended (or the log on start-up)
            if let e = log.entry(at: i), e.kind == .config {
                if let m = Membership.decode(e.data) {
                    configHistory.append((i, m))
                } else {
                    halted = "configuration entry \(i) cannot be decoded"
                    return
                }
            }
            i += 1
        }
        setMembership(configHistory.last?.membership ?? baseMembership)
    }

    /// The membership in force at `index` (for snapshots).
    func membership(at index: LogIndex) -> Membership {
        configHistory.last(where: { $0.index <= index })?.membership ?? baseMembership
    }

    private mutating func setMembership(_ m: Membership) {
        guard m != membership else { return }
        membership = m
        if role == .leader {
            for peer in m.all where peer != id {
                if progress[peer] == nil {
                    var pr = Progress(next: log.lastIndex + 1, isLearner: m.isLearner(peer), limits: config.limits)
                    pr.recentActive = true // A new member is given one CheckQuorum round to answer.
                    progress[peer] = pr
                } else {
                    progress[peer]!.isLearner = m.isLearner(peer)
                }
            }
            // Progress of departed members is dropped; lookups of it simply find nothing.
            var kept: [NodeID: Progress] = [:]
            for peer in m.all where peer != id { kept[peer] = progress[peer] }
            progress = kept
            if transferee != noNode && !m.isVoter(transferee) { transferee = noNode }
        } else if (role == .candidate || role == .preCandidate) && !m.isVoter(id) {
            becomeFollowerKeepingTerm()
        }
    }

    // MARK: - Snapshots

    /// Folds entries up to `index` into a snapshot whose state-machine image is `data`, and drops them
    /// from the in-memory log. The shell must make the snapshot durable before it deletes the stored
    /// log prefix. Returns nil when `index` is not applied or already compacted.
    /// - Parameters:
    ///   - index: at most `appliedIndex`.
    ///   - data: the state machine's encoding as of exactly `index`.
    public mutating func compact(upTo index: LogIndex, data: [UInt8]) -> Snapshot? {
        guard halted == nil, index > log.offset, index <= log.applied, index <= log.persisted,
            let t = log.term(at: index)
        else { return nil }
        let snap = Snapshot(index: index, term: t, membership: membership(at: index), data: data)
        baseMembership = snap.membership
        configHistory.removeAll { $0.index <= index }
        log.compact(upTo: index)
        snapshot = snap
        return snap
    }

    /// Sends the next chunk of the local snapshot to `peer` (leader only).
    mutating func sendSnapshotChunk(to peer: NodeID) {
        guard termDurable, let snap = snapshot, var pr = progress[peer] else { return }
        if pr.state != .snapshot || pr.snapshotIndex != snap.index { pr.becomeSnapshot(index: snap.index) }
        guard !pr.snapshotChunkSent else {
            progress[peer] = pr
            return
        }
        let start = min(pr.snapshotOffset, snap.data.count)
        let end = min(start + config.limits.maxSnapshotChunkBytes, snap.data.count)
        let chunk = SnapshotChunk(
            index: snap.index, term: snap.term, membership: snap.membership, offset: start,
            total: snap.data.count, checksum: snap.checksum, data: Array(snap.data[start..<end]))
        send(Message(kind: .snapshot, from: id, to: peer, term: term, snapshot: chunk))
        pr.snapshotChunkSent = true
        progress[peer] = pr
    }

    mutating func handleSnapshotResponse(_ m: Message) {
        guard var pr = progress[m.from] else { return }
        pr.recentActive = true
        guard pr.state == .snapshot, m.index == pr.snapshotIndex else {
            progress[m.from] = pr
            return
        }
        pr.snapshotOffset = m.reject ? 0 : Int(clamping: m.context)
        pr.snapshotChunkSent = false
        progress[m.from] = pr
        sendSnapshotChunk(to: m.from)
    }

    /// Follower: receives one chunk; installs the snapshot when the last chunk arrives and the
    /// checksum matches. A snapshot at or below the commit index is never installed.
    mutating func handleSnapshot(_ m: Message) {
        guard let c = m.snapshot else { return }
        if c.index <= log.committed {
            incoming = nil
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        if log.matchTerm(c.index, c.term) {
            // We already hold the snapshot's last entry: everything before it matches the leader's.
            incoming = nil
            commitTo(c.index)
            send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: c.index))
            return
        }
        guard c.total <= config.limits.maxSnapshotBytes, c.data.count <= config.limits.maxSnapshotChunkBytes,
            c.data.count <= c.total, c.offset >= 0, c.offset <= c.total - c.data.count
        else {
            incoming = nil
            send(
                Message(
                    kind: .snapshotResponse, from: id, to: m.from, term: term, logTerm: c.term, index: c.index,
                    reject: true))
            return
        }
        if let inc = incoming, inc.index == c.index, inc.term == c.term, inc.checksum == c.checksum,
            inc.total == c.total
        {
            // Same snapshot, possibly from a new leader: resume where we are.
        } else {
            incoming = (c.index, c.term, c.checksum, c.total, [])
        }
        let have = incoming!.data.count
        if c.offset == have {
            incoming!.data.append(contentsOf: c.data)
        }
        let now = incoming!.data.count
        guard now == c.total else {
            send(
                Message(
                    kind: .snapshotResponse, from: id, to: m.from, term: term, logTerm: c.term, index: c.index,
                    context: UInt64(now)))
            return
        }
        let data = incoming!.data
        incoming = nil
        guard Checksum.of(data) == c.checksum else {
            // Corrupt: start over from the first chunk.
            send(
                Message(
                    kind: .snapshotResponse, from: id, to: m.from, term: term, logTerm: c.term, index: c.index,
                    reject: true))
            return
        }
        let snap = Snapshot(index: c.index, term: c.term, membership: c.membership, data: data)
        log.restore(index: snap.index, term: snap.term)
        applyHandedOutAfterRestore(snap.index)
        baseMembership = snap.membership
        configHistory = []
        noteLogChange(from: snap.index + 1)
        snapshot = snap
        snapshotToInstall = snap
        send(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: snap.index))
    }

    // MARK: - Leadership transfer

    /// Hands leadership to `target`, a voter: once it has every entry the leader has, it is told to
    /// campaign at once (TimeoutNow, thesis §3.10). Proposals are refused meanwhile; a transfer that
    /// does not finish within an election timeout is abandoned.
    @discardableResult
    public mutating func transferLeadership(to target: NodeID) -> TransferResult {
        guard halted == nil else { return .refused(reason: "node halted") }
        guard role == .leader else { return .notLeader(leader: leader) }
        guard target != id else { return .refused(reason: "node \(id) already leads") }
        guard membership.isVoter(target), progress[target] != nil else {
            return .refused(reason: "node \(target) is not a voter")
        }
        transferee = target
        transferElapsed = 0
        leaseForfeited = true
        if progress[target]!.match == log.lastIndex {
            send(Message(kind: .timeoutNow, from: id, to: target, term: term))
        } else {
            sendAppend(to: target)
        }
        return .started(to: target)
    }

    /// The voter with the most of the log, other than this leader: the natural transfer target.
    public var bestTransferTarget: NodeID? {
        var best: (NodeID, LogIndex)?
        for v in membership.voters where v != id {
            let m = progress[v]?.match ?? 0
            if best == nil || m > best!.1 { best = (v, m) }
        }
        return best?.0
    }
}
