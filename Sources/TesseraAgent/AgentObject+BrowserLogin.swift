import DBus
import Foundation
import TesseraAPI

extension AgentObject {
    /// `StartBrowserLogin`: binds the loopback listener, exports the flow object, opens the
    /// authorization URI (portal, else xdg-open) and answers at once; the flow object signals the end.
    func startBrowserLogin(_ call: MethodCall) async throws(AgentError) -> [DBusValue] {
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
        let (login, isNew) = try await agent.startBrowserLogin(account: account, scopes: scopes, timeout: timeout)
        if isNew {
            await exportFlowObject(for: login)
            if options.open ?? true { await URIOpener.open(login.authorizationURI.absoluteString, connection: connection, logger: logger) }
        }
        return BrowserLoginReply(flow: AgentContract.flowPath(login.number), authorizationURI: login.authorizationURI.absoluteString,
                                 redirectURI: login.redirectURI.absoluteString,
                                 expiresAt: Int64(login.expiresAt.timeIntervalSince1970.rounded(.down))).body
    }

    /// The same `io.tessera.DeviceFlow1` object a device flow gets, and the same end signals.
    private func exportFlowObject(for login: BrowserLogin) async {
        let path = AgentContract.flowPath(login.number)
        do {
            let interface = try ExportedInterface(
                AgentContract.deviceFlowInterface,
                methods: [MemberName(stringLiteral: DeviceFlowMember.cancel): { _ in login.cancel(); return [] }],
                getters: [
                    MemberName(stringLiteral: DeviceFlowMember.state): { .string(login.state.rawValue) },
                    MemberName(stringLiteral: DeviceFlowMember.account): { .string(login.account) },
                ])
            try await connection.export(interface, at: path)
        } catch {
            logger.error("cannot export the flow object \(path): \(error)")
        }
        let connection = self.connection, logger = self.logger
        Task {
            await login.finished()
            do {
                try await connection.emitPropertiesChanged(
                    path: path, interface: AgentContract.deviceFlowInterfaceName,
                    changed: [MemberName(stringLiteral: DeviceFlowMember.state): .string(login.state.rawValue)])
                if login.state == .completed {
                    try await connection.emit(path: path, interface: AgentContract.deviceFlowInterfaceName,
                                              member: MemberName(stringLiteral: DeviceFlowMember.completed))
                } else {
                    let failure = login.failure ?? .cancelled("the login was cancelled")
                    try await connection.emit(path: path, interface: AgentContract.deviceFlowInterfaceName,
                                              member: MemberName(stringLiteral: DeviceFlowMember.failed),
                                              arguments: [.string(failure.name.wireName), .string(failure.message)])
                }
            } catch {
                logger.warning("cannot signal the end of browser login \(login.number): \(error)")
            }
            try? await Task.sleep(for: Self.finishedFlowLifetime)
            _ = await connection.unexport(path)
        }
    }
}
