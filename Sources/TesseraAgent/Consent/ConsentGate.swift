import Logging
import Synchronization
import TesseraAPI
import TesseraCore

/// What a consent question shows and which answers it offers.
struct ConsentQuestion: Sendable {
    let number: Int
    let summary: String
    let body: String
    /// "Always allow" only when the program has a name a rule can be kept under.
    let actions: [ConsentAction]
}

/// How a question ended.
enum ConsentAnswer: Sendable, Equatable {
    case allowOnce
    case alwaysAllow
    case denied
    /// Closed without an answer: a denial.
    case dismissed
    case timedOut
    /// No notification server that shows actions: nobody can be asked.
    case unavailable
}

/// What is being handed out, for the question and the messages.
public enum ConsentItem: Sendable {
    case accessToken(scopes: [String]?, audience: [String]?)
    case idToken
    case mytoken

    var noun: String {
        switch self {
        case .accessToken: "a token"
        case .idToken: "an ID token"
        case .mytoken: "a mytoken"
        }
    }
}

/// A question still waiting, as the tray lists it.
public struct PendingConsent: Sendable, Equatable {
    public let number: Int
    /// "rclone (/usr/bin/rclone, pid 42) wants a token for egi".
    public let text: String
}

/// The one check every call that hands out a token goes through (GetToken, GetIdToken,
/// CreateMytoken from an account, the oidc-agent socket's access_token and id_token): the
/// account's policy for the caller as the kernel names it, and for `ask` a question to the user.
///
/// Concurrent calls of the same process for the same account and the same scopes and audience
/// share one question; "Always allow" stores a rule, so it holds after a restart.
public final class ConsentGate: Sendable {
    /// How long a call waits for an answer unless it says otherwise (GetToken's `timeout`): below
    /// the 25 s default reply timeout of libdbus and GDBus clients, so they get our `Timeout`.
    public static let defaultWait: Duration = .seconds(20)

    private struct QuestionKey: Hashable {
        let account: String
        let program: String
        let processID: UInt32?
        let item: String
    }

    private struct State {
        var next = 1
        var shared: [QuestionKey: (number: Int, text: String, answer: Task<ConsentAnswer, Never>)] = [:]
    }

    private let agent: Agent
    private let notifier: Notifier
    private let logger: Logger
    private let state = Mutex(State())
    private let changes: AsyncStream<Void>.Continuation
    /// Yields whenever a question starts or ends (the tray refreshes its menu).
    public let pendingChanges: AsyncStream<Void>

    init(agent: Agent, notifier: Notifier, logger: Logger) {
        self.agent = agent
        self.notifier = notifier
        self.logger = logger
        (pendingChanges, changes) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Returns when `caller` may have `item` of `account` (a name or an issuer URL); throws
    /// `NotPermitted` (denied, dismissed, nobody to ask) or `Timeout` otherwise. An account that
    /// does not exist passes: the token call then answers `NoSuchAccount`.
    public func check(_ caller: VerifiedCaller, account: String, item: ConsentItem, hint: String?,
                      wait: Duration = ConsentGate.defaultWait) async throws(AgentError) {
        let application = caller.application
        let decision = agent.decision(account: account, application: application)
        if decision == .allow { return }
        let resolved = (try? agent.resolve(account)) ?? nil
        let name = resolved?.name ?? account
        let program = Self.program(caller)
        let allowCommand = application.map { "tessera policy allow \(name) \($0.key)" }
        if decision == .deny {
            logger.notice("consent: denied \(item.noun) of \(name) to \(program) (policy)")
            throw .notPermitted("\(program) may not have \(item.noun) for \(name): the account's policy denies it"
                + (allowCommand.map { ". To allow it: \($0)" } ?? ""))
        }
        let answer = await ask(caller, account: name, resolved: resolved, item: item, hint: hint, wait: wait)
        switch answer {
        case .allowOnce:
            logger.notice("consent: \(program) allowed once \(item.noun) of \(name)")
        case .alwaysAllow:
            logger.notice("consent: \(program) always allowed for \(name)")
            if let application {
                do { try await agent.setApplicationDecision(account: name, application: application, .allow) } catch {
                    logger.error("consent: \"Always allow\" for \(application) on \(name) was not stored: \(error.message)")
                }
            }
        case .denied:
            logger.notice("consent: the user denied \(item.noun) of \(name) to \(program)")
            throw .notPermitted("the user denied \(program) \(item.noun) for \(name)")
        case .dismissed:
            logger.notice("consent: the question for \(program) on \(name) was dismissed (a denial)")
            throw .notPermitted("the question whether \(program) may have \(item.noun) for \(name) was dismissed, which denies it")
        case .timedOut:
            throw .timeout("nobody answered whether \(program) may have \(item.noun) for \(name) within "
                + "\(wait.components.seconds) s")
        case .unavailable:
            throw .notPermitted("\(name) asks before handing out tokens, but no notification server that shows actions "
                + "is running to ask you about \(program)"
                + (allowCommand.map { "; to allow it without asking: \($0)" } ?? ""))
        }
    }

    /// The questions waiting for an answer, oldest first.
    public var pending: [PendingConsent] {
        state.withLock { $0.shared.values.map { PendingConsent(number: $0.number, text: $0.text) } }.sorted { $0.number < $1.number }
    }

    /// Answers a waiting question from the tray: `allow` once, or deny.
    public func answer(_ number: Int, allow: Bool) {
        notifier.settle(question: number, allow ? .allowOnce : .denied)
    }

    private func ask(_ caller: VerifiedCaller, account: String, resolved: Account?, item: ConsentItem, hint: String?,
                     wait: Duration) async -> ConsentAnswer {
        let details = Self.details(item, account: resolved)
        let key = QuestionKey(account: account, program: caller.application?.key ?? caller.uniqueName,
                              processID: caller.processID, item: "\(item.noun) \(details)")
        let text = "\(Self.program(caller)) wants \(item.noun) for \(account)"
        let (task, created): (Task<ConsentAnswer, Never>, Bool) = state.withLock { state in
            if let shared = state.shared[key] { return (shared.answer, false) }
            let number = state.next
            state.next += 1
            var body = "\(text)\(details.isEmpty ? "" : " [\(details)]")"
            if let hint = hint.map(VerifiedCaller.shown(hint:)), !hint.isEmpty {
                body += "\nIt calls itself “\(hint)” (its own claim, not verified)."
            }
            let question = ConsentQuestion(number: number, summary: "Allow a token for \(account)?", body: body,
                                           actions: caller.application == nil ? [.allowOnce, .deny] : ConsentAction.allCases)
            let notifier = self.notifier
            let task = Task { await notifier.ask(question, timeout: wait) }
            state.shared[key] = (number: number, text: text, answer: task)
            return (task, true)
        }
        if created { changes.yield() }
        let answer = await task.value
        if created {
            state.withLock { _ = $0.shared.removeValue(forKey: key) }
            changes.yield()
        }
        return answer
    }

    /// The question's name for the caller (`VerifiedCaller.program`, the one renderer of it).
    static func program(_ caller: VerifiedCaller) -> String { caller.program }

    /// "scopes openid profile, audience https://x": what the token would carry.
    static func details(_ item: ConsentItem, account: Account?) -> String {
        guard case .accessToken(let requestedScopes, let requestedAudience) = item else { return "" }
        let scopes = requestedScopes ?? account?.scopes ?? []
        let audience = requestedAudience ?? account?.audience ?? []
        var parts: [String] = []
        if !scopes.isEmpty { parts.append("scopes \(scopes.joined(separator: " "))") }
        if !audience.isEmpty { parts.append("audience \(audience.joined(separator: " "))") }
        return parts.joined(separator: ", ")
    }
}
