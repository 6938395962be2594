import DBus
import FoundationEssentials
import OIDC
import Secrets
import TesseraAPI
import TesseraCore

/// The login methods: `StartDeviceFlow`, `LoginWithPassword`, `StartBrowserLogin` (each login's
/// flow object is exported by `flowStarted`).
extension AgentObject {
    func startDeviceFlow(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try DeviceFlowOptions(dbusOptions: options) }
        let scopes = try options.scopes.map { scopes throws(AgentError) in try Validate.words(scopes, field: DeviceFlowOption.scopes.rawValue) }
        let flow = try await agent.startDeviceFlow(account: account, scopes: scopes, notify: options.notify ?? true,
                                                   requestedBy: Self.requester(caller, application: nil))
        return DeviceFlowReply(flow: AgentContract.flowPath(flow.number), userCode: flow.userCode,
                               verificationURI: flow.verificationURI.absoluteString,
                               verificationURIComplete: flow.verificationURIComplete?.absoluteString,
                               expiresAt: Int64(flow.expiresAt.timeIntervalSince1970.rounded(.down)),
                               interval: UInt32(clamping: flow.interval.components.seconds)).body
    }

    func loginWithPassword(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in try PasswordLoginOptions(dbusOptions: options) }
        guard let username = options.username else {
            throw .invalidArgument(field: PasswordLoginOption.username.rawValue, reason: "is required")
        }
        guard let password = options.password, !password.isEmpty else {
            throw .invalidArgument(field: PasswordLoginOption.password.rawValue, reason: "is required")
        }
        // Checked for size only: any character may be part of a password, and no message echoes it.
        guard password.utf8.count <= Validate.maxStringBytes else {
            throw .invalidArgument(field: PasswordLoginOption.password.rawValue, reason: "is longer than \(Validate.maxStringBytes) bytes")
        }
        let scopes = try options.scopes.map { s throws(AgentError) in try Validate.words(s, field: PasswordLoginOption.scopes.rawValue) }
        try await agent.loginWithPassword(account: account, username: try Validate.text(username, field: PasswordLoginOption.username.rawValue),
                                          password: Secret(password), scopes: scopes)
        return []
    }

    /// `StartBrowserLogin`: binds the loopback listener, exports the flow object, opens the
    /// authorization URI (portal, else xdg-open) and answers at once; the flow object signals the end.
    func startBrowserLogin(_ call: MethodCall, _ caller: VerifiedCaller) async throws(AgentError) -> [DBusValue] {
        let (account, options) = try decodeOptions(call) { options throws(ArgumentError) in
            try BrowserLoginOptions(dbusOptions: options)
        }
        let scopes = try options.scopes.map { scopes throws(AgentError) in
            try Validate.words(scopes, field: BrowserLoginOption.scopes.rawValue)
        }
        let timeout = options.timeout ?? BrowserLoginOption.defaultTimeout
        guard (1...Self.maxTimeout).contains(timeout) else {
            throw .invalidArgument(field: BrowserLoginOption.timeout.rawValue, reason: "must be between 1 and \(Self.maxTimeout) seconds")
        }
        let (login, isNew) = try await agent.startBrowserLogin(account: account, scopes: scopes, timeout: timeout,
                                                               requestedBy: Self.requester(caller, application: nil))
        guard case .browser(let authorization) = login.grant else {
            throw .cancelled("the browser login for \"\(account)\" is gone")
        }
        if isNew && (options.open ?? true) {
            await URIOpener.open(login.verificationURI.absoluteString, connection: connection, logger: logger)
        }
        return BrowserLoginReply(flow: AgentContract.flowPath(login.number), authorizationURI: authorization.authorizationURL.absoluteString,
                                 redirectURI: authorization.redirectURI.absoluteString,
                                 expiresAt: Int64(login.expiresAt.timeIntervalSince1970.rounded(.down))).body
    }
}
