import Foundation
import OIDC
import Synchronization
import TesseraAPI

/// What a login polls with: an RFC 8628 device code, or a mytoken server's polling code.
enum LoginGrant: Sendable {
    case device(DeviceAuthorization)
    case mytoken(MytokenLogin)
}

/// One login in progress — an RFC 8628 device flow, or a mytoken server's polling-code login —
/// what the user must see, and where it stands.
///
/// The device or polling code never leaves this object (it is a secret); the user code and the
/// URIs are meant to be shown. A mytoken login has no user code: its URIs are the consent page. Waiters (an interactive GetToken, the D-Bus flow object) learn the end
/// through `finished()`.
public final class DeviceFlow: Sendable {
    public let number: Int
    public let account: String
    public let userCode: String
    public let verificationURI: URL
    public let verificationURIComplete: URL?
    public let expiresAt: Date
    public let interval: Duration
    public let scopes: [String]
    let grant: LoginGrant

    private struct Status {
        var state = DeviceFlowState.pending
        var failure: AgentError?
        var waiters: [UInt64: CheckedContinuation<Result<Void, AgentError>?, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var poller: Task<Void, Never>?

        var outcome: Result<Void, AgentError> {
            state == .completed ? .success(()) : .failure(failure ?? .cancelled("the login was cancelled"))
        }
    }
    private let status = Mutex(Status())

    init(number: Int, account: String, mytokenLogin login: MytokenLogin, scopes: [String]) {
        self.number = number
        self.account = account
        self.grant = .mytoken(login)
        self.userCode = ""
        self.verificationURI = login.consentURI
        self.verificationURIComplete = login.consentURI
        self.expiresAt = Date().addingTimeInterval(TimeInterval(login.expiresIn))
        self.interval = .seconds(login.interval)
        self.scopes = scopes
    }

    init(number: Int, account: String, authorization: DeviceAuthorization) {
        self.number = number
        self.account = account
        self.grant = .device(authorization)
        self.userCode = authorization.userCode
        self.verificationURI = authorization.verificationURI
        self.verificationURIComplete = authorization.verificationURIComplete
        self.expiresAt = authorization.expiresAt
        self.interval = authorization.interval
        self.scopes = authorization.scopes
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
            defer { status.waiters = [:] }
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

    /// The end of the flow (success, or the error it ended with), or nil when `timeout` passes
    /// first; the flow itself goes on.
    public func finished(within timeout: Duration) async -> Result<Void, AgentError>? {
        await withCheckedContinuation { continuation in
            let registered = status.withLock { status -> UInt64? in
                guard !status.state.isFinished else { return nil }
                status.nextWaiter += 1
                status.waiters[status.nextWaiter] = continuation
                return status.nextWaiter
            }
            guard let id = registered else { return continuation.resume(returning: status.withLock { $0.outcome }) }
            Task { [self] in
                try? await Task.sleep(for: timeout)
                status.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
            }
        }
    }
}
