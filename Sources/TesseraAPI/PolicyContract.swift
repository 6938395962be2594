import DBus

/// `GetPolicy`'s reply, for both sides: the default decision and the rules, as wire strings (the
/// CLI shows what a newer service sends even when it does not know the value).
public struct PolicyReply: Sendable, Equatable {
    public var defaultDecision: String
    /// Application key → decision, sorted by key.
    public var rules: [(application: String, decision: String)]

    public init(defaultDecision: String, rules: [(application: String, decision: String)]) {
        self.defaultDecision = defaultDecision
        self.rules = rules
    }

    public var body: [DBusValue] {
        [.string(defaultDecision),
         .array(of: "(ss)", rules.map { .structure([.string($0.application), .string($0.decision)]) })]
    }

    public init(body: [DBusValue]) throws(DBusError) {
        guard body.count == 2, case .string(let value) = body[0], case .array(_, let items) = body[1] else {
            throw .invalidValue("GetPolicy's reply is not (s, a(ss))")
        }
        defaultDecision = value
        rules = []
        for item in items {
            guard case .structure(let fields) = item, fields.count == 2,
                  case .string(let application) = fields[0], case .string(let decision) = fields[1] else {
                throw .invalidValue("GetPolicy's reply has a rule that is not (ss)")
            }
            rules.append((application: application, decision: decision))
        }
    }

    public static func == (lhs: PolicyReply, rhs: PolicyReply) -> Bool {
        lhs.defaultDecision == rhs.defaultDecision
            && lhs.rules.map(\.application) == rhs.rules.map(\.application)
            && lhs.rules.map(\.decision) == rhs.rules.map(\.decision)
    }
}
