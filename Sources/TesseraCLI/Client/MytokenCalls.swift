import DBus
import Secrets
import TesseraAPI

/// An access token from a passed mytoken, and the mytoken's replacement when it rotated.
struct MytokenAccess {
    var issued: IssuedToken
    var rotated: Secret?
}

/// A mytoken, short token or transfer code the service created or exchanged.
struct CreatedMytoken {
    var token: Secret
    var type: String
    var rotated: Secret?
}

/// The mytoken methods of `io.tessera.Agent1`, one D-Bus call each.
extension AgentClient {
    func token(mytoken: Secret, server: String?, scopes: [String], audience: [String]) async throws(CLIError) -> MytokenAccess {
        let options = MytokenTokenOptions(mytokenServer: server, scopes: scopes.isEmpty ? nil : scopes,
                                          audience: audience.isEmpty ? nil : audience, comment: "tessera")
        let member = AgentMethod.getTokenWithMytoken.rawValue
        let body = try await callWithSecret(member, [.string(mytoken.reveal()), options.dbusOptions.dbusValue], account: nil)
        guard let reply = try? TokenReply(body: body), body.count == 3 else { throw Self.unexpectedReply(member, body) }
        let rotated = body[2].entries.first { $0.0 == MytokenInfoKey.rotatedMytoken.rawValue }?.1.stringValue
        return MytokenAccess(
            issued: IssuedToken(token: Secret(reply.token), expiresAt: reply.expiresAt, tokenType: reply.tokenType,
                                scopes: reply.scopes, audience: reply.audience, issuer: reply.issuer),
            rotated: rotated.map(Secret.init))
    }

    func createMytoken(account: String?, request: CreateMytokenRequest) async throws(CLIError) -> CreatedMytoken {
        let member = AgentMethod.createMytoken.rawValue
        let body = try await call(member, [.string(account ?? ""), request.dbusOptions.dbusValue], account: account)
        return try created(member, body)
    }

    func exchange(transferCode: Secret, server: String?) async throws(CLIError) -> CreatedMytoken {
        let member = AgentMethod.exchangeTransferCode.rawValue
        let options = MytokenServerOptions(mytokenServer: server)
        let body = try await callWithSecret(member, [.string(transferCode.reveal()), options.dbusOptions.dbusValue],
                                            account: nil)
        return try created(member, body)
    }

    func revoke(mytoken: Secret, server: String?, recursive: Bool) async throws(CLIError) {
        let options = MytokenServerOptions(mytokenServer: server, recursive: recursive ? true : nil)
        _ = try await callWithSecret(AgentMethod.revokeMytoken.rawValue,
                                     [.string(mytoken.reveal()), options.dbusOptions.dbusValue], account: nil)
    }

    func addMytokenAccount(name: String, settings: AccountSettingsMessage) async throws(CLIError) {
        _ = try await callWithSecret(AgentMethod.addAccount.rawValue, [.string(name), settings.dbusOptions.dbusValue],
                                     account: name)
    }

    func templates(_ request: MytokenTemplatesRequest) async throws(CLIError) -> MytokenTemplatesReply {
        let member = AgentMethod.listMytokenTemplates.rawValue
        let body = try await call(member, [request.dbusOptions.dbusValue], account: nil)
        guard let reply = try? MytokenTemplatesReply(body: body) else { throw Self.unexpectedReply(member, body) }
        return reply
    }

    func info(account: String?, action: MytokenInfoActionName, request: MytokenInfoRequest) async throws(CLIError) -> MytokenInfoReply {
        let member = AgentMethod.mytokenInfo.rawValue
        let body = try await call(member, [.string(account ?? ""), .string(action.rawValue), request.dbusOptions.dbusValue],
                                  account: account)
        guard let reply = try? MytokenInfoReply(body: body) else { throw Self.unexpectedReply(member, body) }
        return reply
    }

    func startMytokenLogin(_ request: CreateMytokenRequest) async throws(CLIError) -> DeviceFlowStart {
        let member = AgentMethod.startMytokenLogin.rawValue
        let body = try await call(member, [request.dbusOptions.dbusValue], account: nil)
        guard let reply = try? DeviceFlowReply(body: body), !reply.verificationURI.isEmpty else {
            throw Self.unexpectedReply(member, body)
        }
        return DeviceFlowStart(path: reply.flow.rawValue, userCode: reply.userCode, verificationURI: reply.verificationURI,
                               verificationURIComplete: reply.verificationURIComplete, expiresAt: reply.expiresAt)
    }

    func finishMytokenLogin(_ path: String) async throws(CLIError) -> CreatedMytoken {
        let member = AgentMethod.finishMytokenLogin.rawValue
        guard let flow = try? ObjectPath(path) else { throw .runtime("the service named an invalid flow path") }
        return try created(member, try await call(member, [.objectPath(flow)], account: nil))
    }

    private func created(_ member: String, _ body: [DBusValue]) throws(CLIError) -> CreatedMytoken {
        guard let reply = try? MytokenReply(body: body), !reply.token.isEmpty else { throw Self.unexpectedReply(member, body) }
        return CreatedMytoken(token: Secret(reply.token), type: reply.tokenType,
                              rotated: reply.rotatedMytoken.map(Secret.init))
    }
}
