import DBus
import Foundation
import TesseraAPI
import TesseraCore

extension AgentObject {
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
