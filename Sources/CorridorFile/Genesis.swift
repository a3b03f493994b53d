import CorridorMachine

extension CorridorMachine {
    /// The state a corridor's history starts from: its signals and plans, reference epoch, initial plan,
    /// id and first engineer (the only key in the registry before the first command). Every replica, the
    /// start-up self-check and the audit build it this one way, so that their state hashes agree.
    public init(genesisOf document: CorridorDocument, settings: MachineSettings = MachineSettings()) throws {
        let operators =
            (document.firstEngineer.map { [OperatorRecord(name: $0.name, publicKey: $0.publicKey, role: .engineer)] }
                ?? []) + document.initialOperators
        try self.init(
            corridor: document.corridor, referenceEpochMs: document.referenceEpochMs, initialPlan: document.initialPlan,
            corridorID: document.id, operators: operators, settings: settings,
            schedule: document.schedule)
    }
}
