import FoundationEssentials
import OIDC
import Synchronization
import TesseraNames

/// What a login waits on: an RFC 8628 device code, a mytoken server's polling code, or a
/// browser's redirect to the loopback listener.
public enum LoginGrant: Sendable {
    case device(DeviceAuthorization)
    case mytoken(MytokenLogin)
    /// Authorization code + PKCE: the loopback listener waits for the browser's redirect.
    case browser(AuthorizationCodeFlow)
}

/// One login in progress — an RFC 8628 device flow, a mytoken server's polling-code login, or a
/// browser login (code + PKCE) — what the user must see, and where it stands. Every kind gets
/// the same `io.tessera.DeviceFlow1` object (the contract's name, from when the device flow was the
/// only kind), so waiting for any of them is the same for clients.
///
/// The device or polling code, the PKCE verifier and the authorization code never leave this
/// object (they are secrets); the user code and the URIs are meant to be shown. A mytoken or
/// browser login has no user code: its URIs are the consent page or the authorization URL.
/// Waiters (an interactive GetToken, the D-Bus flow object) learn the end through `finished(within:)`.
public final class Login: Sendable {
    public let number: Int
    public let account: String
    public let userCode: String
    public let verificationURI: URL
    public let verificationURIComplete: URL?
    public let expiresAt: Date
    public let interval: Duration
    public let scopes: [String]
    /// The verified caller that started it (`/usr/bin/foo (pid 42)`), shown in the notification.
    public let requestedBy: String?
    public let grant: LoginGrant

    private struct Status {
        var state = DeviceFlowState.pending
        var failure: AgentError?
        var waiters: [UInt64: CheckedContinuation<Result<Void, AgentError>?, Never>] = [:]
        var nextWaiter: UInt64 = 0
        /// Waiters cancelled before they registered.
        var abandoned: Set<UInt64> = []
        var poller: Task<Void, Never>?

        var outcome: Result<Void, AgentError> {
            state == .completed ? .success(()) : .failure(failure ?? .cancelled("the login was cancelled"))
        }
    }
    private let status = Mutex(Status())
    /// A new mytoken this login produced for its caller (`tessera mytoken new`): held only until
    /// the caller takes it, never stored.
    private let delivered = Mutex<IssuedMytoken?>(nil)

    func deliver(_ issued: IssuedMytoken) { delivered.withLock { $0 = issued } }

    /// The new mytoken, once: it is gone from here after this call.
    public func takeDelivered() -> IssuedMytoken? { delivered.withLock { value in defer { value = nil }; return value } }

    init(number: Int, account: String, mytokenLogin login: MytokenLogin, scopes: [String], requestedBy: String? = nil) {
        self.number = number
        self.requestedBy = requestedBy
        self.account = account
        self.grant = .mytoken(login)
        self.userCode = ""
        self.verificationURI = login.consentURI
        self.verificationURIComplete = login.consentURI
        self.expiresAt = Date().addingTimeInterval(TimeInterval(login.expiresIn))
        self.interval = .seconds(login.interval)
        self.scopes = scopes
    }

    /// A browser login: the "verification URI" is the authorization URL the browser opens; the
    /// service waits for the redirect instead of polling.
    init(number: Int, account: String, browserLogin flow: AuthorizationCodeFlow, expiresAt: Date, requestedBy: String? = nil) {
        self.number = number
        self.requestedBy = requestedBy
        self.account = account
        self.grant = .browser(flow)
        self.userCode = ""
        self.verificationURI = flow.authorizationURL
        self.verificationURIComplete = flow.authorizationURL
        self.expiresAt = expiresAt
        self.interval = .zero
        self.scopes = flow.scopes
    }

    init(number: Int, account: String, authorization: DeviceAuthorization, requestedBy: String? = nil) {
        self.number = number
        self.requestedBy = requestedBy
        self.account = account
        self.grant = .device(authorization)
        self.userCode = authorization.userCode
        self.verificationURI = authorization.verificationURI
        self.verificationURIComplete = authorization.verificationURIComplete
        self.expiresAt = authorization.expiresAt
        self.interval = authorization.interval
        self.scopes = authorization.scopes
    }

    var isBrowserLogin: Bool {
        if case .browser = grant { true } else { false }
    }

    /// For log lines: which kind of login this is.
    var kindName: String {
        switch grant {
        case .device: "device flow"
        case .mytoken: "mytoken login"
        case .browser: "browser login"
        }
    }

    public var state: DeviceFlowState { status.withLock { $0.state } }
    /// Why the flow ended, when it did not complete.
    public var failure: AgentError? { status.withLock { $0.failure } }

    /// The URI to open or encode as a QR code: the complete one (code included) when the
    /// provider offers it.
    public var bestURI: URL { verificationURIComplete ?? verificationURI }

    func attach(poller: Task<Void, Never>) {
        let cancelNow = status.withLock { status -> Bool in
            status.poller = poller
            return status.state.isFinished
        }
        if cancelNow { poller.cancel() }
    }

    /// Ends the flow once; later calls are ignored (returns false).
    @discardableResult
    func finish(_ state: DeviceFlowState, failure: AgentError? = nil) -> Bool {
        let ended = status.withLock { status -> ([CheckedContinuation<Result<Void, AgentError>?, Never>], Result<Void, AgentError>)? in
            guard !status.state.isFinished else { return nil }
            status.state = state
            status.failure = failure
            defer { status.waiters = [:]; status.abandoned = [] }
            return (Array(status.waiters.values), status.outcome)
        }
        guard let (waiters, outcome) = ended else { return false }
        for waiter in waiters { waiter.resume(returning: outcome) }
        return true
    }

    /// Stops polling and ends the flow as cancelled.
    public func cancel() {
        let poller = status.withLock { $0.poller }
        if finish(.cancelled, failure: .cancelled("the login for \"\(account)\" was cancelled")) {
            poller?.cancel()
        }
    }

    /// The end of the login (success, or the error it ended with), or nil when `timeout` passes
    /// first; the login itself goes on. The timer is a child task that ends with the wait, so a
    /// login that ends early leaves no sleeping task (and no reference to itself) behind.
    public func finished(within timeout: Duration) async -> Result<Void, AgentError>? {
        await withTaskGroup(of: Result<Void, AgentError>?.self) { group in
            group.addTask { await self.ended() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// The end of the login, or nil when the waiting task is cancelled first.
    func ended() async -> Result<Void, AgentError>? {
        let id = status.withLock { status -> UInt64 in
            status.nextWaiter += 1
            return status.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let outcome = status.withLock { status -> Result<Void, AgentError>?? in
                    if status.state.isFinished { return .some(status.outcome) }
                    if status.abandoned.remove(id) != nil { return .some(nil) }
                    status.waiters[id] = continuation
                    return .none
                }
                if case .some(let outcome) = outcome { continuation.resume(returning: outcome) }
            }
        } onCancel: {
            let waiter = status.withLock { status -> CheckedContinuation<Result<Void, AgentError>?, Never>? in
                // Not registered yet: the registration above sees the mark and returns at once.
                if let waiter = status.waiters.removeValue(forKey: id) { return waiter }
                if !status.state.isFinished { status.abandoned.insert(id) }
                return nil
            }
            waiter?.resume(returning: nil)
        }
    }

    /// How many waiters are registered (for tests: none may stay behind).
    var waiterCount: Int { status.withLock { $0.waiters.count + $0.abandoned.count } }
}
