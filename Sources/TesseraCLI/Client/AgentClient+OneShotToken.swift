import DBus
import Glibc
import Secrets
import TesseraAPI

/// `tessera token`'s one call in a process that makes only that call (`TokenFastPath`): in one
/// round trip, on tesserad's peer-to-peer socket when there is one, written and read on the wire.
extension AgentClient {
    /// `tessera token`'s one call, in one round trip: to tesserad's peer-to-peer socket when it
    /// serves one for this bus (`tokenFromPeer`), else through the bus (the fast path; see
    /// `TokenFastPath`, `OneShotCall` and `PeerSocket`).
    static func tokenOnce(_ request: TokenQuery) throws(CLIError) -> IssuedToken {
        if let issued = try tokenFromPeer(request) { return issued }
        let body: [DBusValue]
        do {
            body = try OneShotCall.session(destination: service, path: object, interface: interface,
                                           member: MemberName(AgentMethod.getToken.rawValue),
                                           arguments: tokenArguments(request), timeout: callTimeout)
        } catch {
            if case .connectionFailed = error { throw connectionFailure(error) }
            throw translate(error, member: AgentMethod.getToken.rawValue, account: request.account)
        }
        return try issuedToken(from: body)
    }

    /// The call on tesserad's peer-to-peer socket, written and read on the wire without a
    /// `DBusValue` tree (`writeTokenArguments`, `TokenReply(wire:)`): in a process that makes
    /// this one call, building and walking the tree was a tenth of its time. Nil when there is
    /// no socket to use (no link, nobody listening, another user's, gone before answering).
    static func tokenFromPeer(_ request: TokenQuery) throws(CLIError) -> IssuedToken? {
        guard let link = PeerSocket.linkPath(runtimeDirectory: getenv("XDG_RUNTIME_DIR").map { String(cString: $0) },
                                             busAddress: getenv("DBUS_SESSION_BUS_ADDRESS").map { String(cString: $0) })
        else { return nil }
        let call = PipelinedRequest(destination: nil, path: object, interface: interface, member: getToken,
                                    signature: tokenSignature, registering: false) { writeTokenArguments(request, to: &$0) }
        let reply: WireMessage
        do throws(DBusError) {
            guard let answer = try OneShotCall.peerExchange(at: link, call, timeout: callTimeout) else { return nil }
            if let error = answer.remoteError { throw error }
            reply = answer
        } catch {
            throw translate(error, member: AgentMethod.getToken.rawValue, account: request.account)
        }
        do throws(DBusError) {
            let token = try TokenReply(wire: reply)
            return IssuedToken(token: Secret(token.token), expiresAt: token.expiresAt, tokenType: token.tokenType,
                               scopes: token.scopes, audience: token.audience, issuer: token.issuer)
        } catch {
            throw unexpectedReply(AgentMethod.getToken.rawValue, (try? reply.arguments()) ?? [])
        }
    }

    private static let getToken = MemberName(stringLiteral: AgentMethod.getToken.rawValue)
    static let tokenSignature = "sa{sv}"

    /// GetToken's arguments as `tokenArguments` marshals them, written directly (the same bytes:
    /// `TokenFastPathTests` compares both for every request the CLI can make).
    static func writeTokenArguments(_ request: TokenQuery, to body: inout WireEncoder) {
        body.string(request.account)
        body.array(elementAlignment: 8) { entries in
            // In the order of the keys' marshalled forms, as the codec's dictionary sorts them.
            option(.application, &entries) { $0.variant("s") { $0.string(request.application ?? "tessera") } }
            if !request.audience.isEmpty { option(.audience, &entries) { strings(request.audience, &$0) } }
            if request.force { option(.force, &entries) { $0.variant("b") { $0.bool(true) } } }
            if let minValid = request.minValid { option(.minValid, &entries) { $0.variant("u") { $0.uint32(minValid) } } }
            if !request.scopes.isEmpty { option(.scopes, &entries) { strings(request.scopes, &$0) } }
        }
    }

    private static func option(_ key: GetTokenOption, _ entries: inout WireEncoder, _ value: (inout WireEncoder) -> Void) {
        entries.align(8)
        entries.string(key.rawValue)
        value(&entries)
    }

    private static func strings(_ values: [String], _ encoder: inout WireEncoder) {
        encoder.variant("as") { array in
            array.array(elementAlignment: 4) { for value in values { $0.string(value) } }
        }
    }
}
