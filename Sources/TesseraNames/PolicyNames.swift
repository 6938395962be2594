// Per-application consent (issue 17): `GetPolicy`, `SetPolicy`, `SetApplicationPolicy`,
// `ForgetApplication` (DESIGN.md, "The D-Bus contract"). Stored with the accounts.

/// What happens when a program asks for one of an account's tokens.
public enum ConsentDecision: String, CaseIterable, Sendable {
    /// Hand the token out (the default: the behaviour before consent existed).
    case allow
    /// Ask the user through a notification with "Allow once", "Always allow" and "Deny".
    case ask
    /// Refuse with `NotPermitted`, without asking.
    case deny

    /// "allow, ask or deny", for messages.
    public static let choices = allCases.map(\.rawValue).joined(separator: ", ")
}

/// The actions of an `ask` notification: keys sent to the notification server and their labels.
public enum ConsentAction: String, CaseIterable, Sendable {
    case allowOnce = "allow-once"
    case alwaysAllow = "always-allow"
    case deny

    public var label: String {
        switch self {
        case .allowOnce: "Allow once"
        case .alwaysAllow: "Always allow"
        case .deny: "Deny"
        }
    }
}
