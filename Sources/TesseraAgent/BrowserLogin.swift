import Foundation
import OIDC
import Synchronization
import TesseraAPI

/// One authorization code login in progress (PKCE, loopback redirect): the URL the browser opens
/// and where the login stands. Its D-Bus object has the device flow's interface, so waiting for
/// either kind is the same for clients. The PKCE verifier and the code stay inside the OIDC flow.
public final class BrowserLogin: Sendable {
    public let number: Int
    public let account: String
    public let authorizationURI: URL
    public let redirectURI: URL
    public let expiresAt: Date
    public let scopes: [String]
    let flow: AuthorizationCodeFlow

    private struct Status {
        var state = DeviceFlowState.pending
        var failure: AgentError?
        var waiters: [CheckedContinuation<Void, Never>] = []
        var task: Task<Void, Never>?
    }
    private let status = Mutex(Status())

    init(number: Int, account: String, flow: AuthorizationCodeFlow, expiresAt: Date) {
        self.number = number
        self.account = account
        self.flow = flow
        self.authorizationURI = flow.authorizationURL
        self.redirectURI = flow.redirectURI
        self.expiresAt = expiresAt
        self.scopes = flow.scopes
    }

    public var state: DeviceFlowState { status.withLock { $0.state } }
    public var failure: AgentError? { status.withLock { $0.failure } }

    func attach(_ task: Task<Void, Never>) {
        let cancelNow = status.withLock { status -> Bool in
            status.task = task
            return status.state.isFinished
        }
        if cancelNow { task.cancel() }
    }

    /// Ends the login once; later calls are ignored (returns false).
    @discardableResult
    func finish(_ state: DeviceFlowState, failure: AgentError? = nil) -> Bool {
        let waiters = status.withLock { status -> [CheckedContinuation<Void, Never>]? in
            guard !status.state.isFinished else { return nil }
            status.state = state
            status.failure = failure
            defer { status.waiters = [] }
            return status.waiters
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume() }
        return true
    }

    /// Stops listening (the browser then gets no answer) and ends the login as cancelled.
    public func cancel() {
        let task = status.withLock { $0.task }
        if finish(.cancelled, failure: .cancelled("the login for \"\(account)\" was cancelled")) { task?.cancel() }
    }

    /// Returns once the login has ended, whichever way.
    public func finished() async {
        await withCheckedContinuation { continuation in
            let done = status.withLock { status -> Bool in
                if status.state.isFinished { return true }
                status.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}

/// The pending browser login of each account (one at a time, like device flows).
final class BrowserLogins: Sendable {
    private let pending = Mutex<[String: BrowserLogin]>([:])

    func current(_ account: String) -> BrowserLogin? {
        pending.withLock { $0[account] }.flatMap { $0.state == .pending ? $0 : nil }
    }

    func add(_ login: BrowserLogin) { pending.withLock { $0[login.account] = login } }

    func remove(_ login: BrowserLogin) {
        pending.withLock { if $0[login.account] === login { $0[login.account] = nil } }
    }

    func cancel(account: String) { pending.withLock { $0[account] }?.cancel() }
}

extension Agent {
    /// The account's pending browser login, or a new one: a loopback listener bound and the
    /// authorization URL built; the caller opens it. Completion stores the refresh token exactly
    /// as a device flow does. `isNew` is false when the pending one was returned.
    public func startBrowserLogin(account nameOrIssuer: String, scopes: [String]?, timeout: UInt32) async throws(AgentError)
        -> (login: BrowserLogin, isNew: Bool)
    {
        let account = try resolve(nameOrIssuer)
        if let pending = browserLogins.current(account.name) { return (pending, false) }
        let client = try await client(for: account)
        let flow: AuthorizationCodeFlow
        do throws(OIDCError) {
            flow = try await client.startAuthorizationCode(scopes: scopes ?? account.scopes, audience: account.audience)
        } catch {
            throw AgentError(error, account: account.name)
        }
        let login = BrowserLogin(number: nextFlowNumber(), account: account.name, flow: flow,
                                 expiresAt: Date().addingTimeInterval(TimeInterval(timeout)))
        browserLogins.add(login)
        logger.info("browser login \(login.number) started for \(account.name); listening on \(flow.redirectURI)")
        login.attach(Task { await completeBrowserLogin(login, account: account, client: client, timeout: timeout) })
        return (login, true)
    }

    private func completeBrowserLogin(_ login: BrowserLogin, account: Account, client: OIDCClient, timeout: UInt32) async {
        do {
            let response: TokenResponse
            do throws(OIDCError) {
                response = try await client.completeAuthorizationCode(login.flow, timeout: .seconds(Int(timeout)))
            } catch {
                throw AgentError(error, account: account.name)
            }
            try await storeLogin(response, account: account, scopes: login.scopes)
            if login.finish(.completed) {
                logger.info("browser login \(login.number) completed: \(account.name) is logged in")
                await currentObserver?.loginCompleted(account: account.name)
            }
        } catch let error as AgentError {
            let state: DeviceFlowState = switch error {
            case .accessDenied: .denied
            case .timeout: .expired
            case .cancelled: .cancelled
            default: .failed
            }
            if login.finish(state, failure: error) {
                logger.notice("browser login \(login.number) for \(account.name) ended: \(error)")
            }
        } catch {
            login.finish(.failed, failure: .cancelled("the login ended unexpectedly"))
        }
        browserLogins.remove(login)
    }
}
