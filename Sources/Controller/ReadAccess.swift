/// Who may read a controller's API (status, state, lamps, metrics, the operator registry).
public enum ReadAccess: String, Sendable, CaseIterable {
    /// Anyone who can reach the port.
    case open
    /// Open when the API listens on a loopback address (only this machine can reach it), else `signed`.
    case loopback
    /// Every read carries a credential signed by a registered operator's key (any role, `ReadCredential`).
    case signed
}

/// Whether `host` names this machine only (reads may then be open under `ReadAccess.loopback`).
func isLoopbackHost(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host.hasPrefix("127.")
}
