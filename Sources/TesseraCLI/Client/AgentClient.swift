import DBus
import Glibc
import Secrets
import TesseraAPI

/// The CLI's side of the `io.tessera.Agent1` contract: each method is one D-Bus call, and every
/// failure becomes a `CLIError` whose one line says what to do.
struct AgentClient: Sendable {
    let connection: Connection

    static let service = AgentContract.busName
    static let object = AgentContract.objectPath
    static let interface = AgentContract.interfaceName
    private static let flowInterface = AgentContract.deviceFlowInterfaceName
    private static let flowPaths = AgentContract.flowPathPrefix

    static func connect() async throws(CLIError) -> AgentClient {
        do {
            return AgentClient(connection: try await Connection.session())
        } catch {
            throw connectionFailure(error)
        }
    }

    static func connectionFailure(_ error: DBusError) -> CLIError {
        .serviceUnreachable("""
            cannot connect to the session bus (\(error)); run tessera inside a desktop session \
            or set DBUS_SESSION_BUS_ADDRESS
            """)
    }

    static let callTimeout: Duration = .seconds(120)

    // MARK: Tokens

    func token(_ request: TokenQuery) async throws(CLIError) -> IssuedToken {
        let body = try await call(AgentMethod.getToken.rawValue, Self.tokenArguments(request), account: request.account)
        return try Self.issuedToken(from: body)
    }

    static func tokenArguments(_ request: TokenQuery) -> [DBusValue] {
        [.string(request.account), tokenOptions(request)]
    }

    /// GetToken's options as the contract's codec writes them (`GetTokenOptions.dbusOptions`,
    /// keys sorted), built directly: the codec's key paths and dictionary cost a one-shot
    /// `tessera token` ~0.6 M instructions, half of its whole run. `TokenFastPathTests` checks
    /// that both give the same value for every request the CLI can make.
    static func tokenOptions(_ request: TokenQuery) -> DBusValue {
        var entries: [DBusValue.DictionaryEntry] = []
        func add(_ key: GetTokenOption, _ value: DBusValue) {
            entries.append(DBusValue.DictionaryEntry(key: .string(key.rawValue), value: .variant(value)))
        }
        func strings(_ values: [String]) -> DBusValue {
            var elements: [DBusValue] = []
            elements.reserveCapacity(values.count)
            for value in values { elements.append(.string(value)) }
            return .array(elementSignature: .string, elements)
        }
        // In the order of the keys' marshalled forms, as the codec's dictionary sorts them.
        add(.application, .string(request.application ?? "tessera"))
        if !request.audience.isEmpty { add(.audience, strings(request.audience)) }
        if request.force { add(.force, .bool(true)) }
        if let minValid = request.minValid { add(.minValid, .uint32(minValid)) }
        if !request.scopes.isEmpty { add(.scopes, strings(request.scopes)) }
        return .dictionary(keySignature: .string, valueSignature: .variant, entries)
    }

    static func issuedToken(from body: [DBusValue]) throws(CLIError) -> IssuedToken {
        do {
            let reply = try TokenReply(body: body)
            return IssuedToken(token: Secret(reply.token), expiresAt: reply.expiresAt, tokenType: reply.tokenType,
                               scopes: reply.scopes, audience: reply.audience, issuer: reply.issuer)
        } catch {
            throw unexpectedReply(AgentMethod.getToken.rawValue, body)
        }
    }

    // MARK: Logins

    /// Subscribes to the device-flow signals; call before `startDeviceFlow` so none is missed.
    func watchDeviceFlows() async throws(CLIError) -> FlowWatch {
        do {
            let signals = try await connection.signals(matching: MatchRule(
                pathNamespace: Self.flowPaths, interface: Self.flowInterface))
            return FlowWatch(signals: signals, client: self)
        } catch {
            throw translate(error, member: "AddMatch", account: nil)
        }
    }

    func startDeviceFlow(account: String) async throws(CLIError) -> DeviceFlowStart {
        let body = try await call(AgentMethod.startDeviceFlow.rawValue,
                                  [.string(account), DeviceFlowOptions().dbusOptions.dbusValue], account: account)
        // A mytoken account's login has no user code, only a consent URI.
        guard let reply = try? DeviceFlowReply(body: body), !reply.verificationURI.isEmpty else {
            throw Self.unexpectedReply(AgentMethod.startDeviceFlow.rawValue, body)
        }
        return DeviceFlowStart(path: reply.flow.rawValue, userCode: reply.userCode,
                               verificationURI: reply.verificationURI,
                               verificationURIComplete: reply.verificationURIComplete, expiresAt: reply.expiresAt)
    }

    /// Best effort: the flow may already be over, or the service gone.
    func cancelDeviceFlow(_ path: String) async {
        guard let path = try? ObjectPath(path) else { return }
        _ = try? await connection.call(destination: Self.service, path: path, interface: Self.flowInterface,
                                       member: MemberName(stringLiteral: DeviceFlowMember.cancel),
                                       timeout: .seconds(5))
    }

    /// The flow's `State` property, read from the service itself (signals could come from anyone).
    func flowState(_ path: ObjectPath) async throws(CLIError) -> DeviceFlowState? {
        let value = try await property(DeviceFlowMember.state, interface: Self.flowInterface, path: path)
        return value?.stringValue.flatMap(DeviceFlowState.init(rawValue:))
    }

    func passwordLogin(account: String, username: String, password: Secret) async throws(CLIError) {
        let options = PasswordLoginOptions(username: username, password: password.reveal())
        _ = try await callWithSecret(AgentMethod.loginWithPassword.rawValue, [.string(account), options.dbusOptions.dbusValue],
                                     account: account)
    }

    // MARK: Accounts

    /// `Revoke`, for OpenID and mytoken accounts alike (`recursive`: mytoken accounts only).
    func revoke(account: String, keepOnFailure: Bool = false, recursive: Bool = false) async throws(CLIError) -> Bool {
        let options = RevokeOptions(keepOnFailure: keepOnFailure ? true : nil, recursive: recursive ? true : nil)
        let reply = try await call(AgentMethod.revoke.rawValue, [.string(account), options.dbusOptions.dbusValue],
                                   account: account)
        guard reply.count == 1, case .bool(let revoked) = reply[0] else {
            throw Self.unexpectedReply(AgentMethod.revoke.rawValue, reply)
        }
        return revoked
    }

    func addAccount(name: String, settings: AccountSettingsMessage) async throws(CLIError) {
        _ = try await callWithSecret(AgentMethod.addAccount.rawValue, [.string(name), settings.dbusOptions.dbusValue], account: name)
    }

    func removeAccount(name: String, keepAtProvider: Bool) async throws(CLIError) {
        let options = RemoveAccountOptions(revoke: !keepAtProvider)
        _ = try await call(AgentMethod.removeAccount.rawValue, [.string(name), options.dbusOptions.dbusValue],
                           account: name)
    }

    func listAccounts() async throws(CLIError) -> [AccountView] {
        let reply = try await call(AgentMethod.listAccounts.rawValue, [], account: nil)
        guard reply.count == 1, case .array(_, let items) = reply[0] else {
            throw Self.unexpectedReply(AgentMethod.listAccounts.rawValue, reply)
        }
        return items.compactMap { item in
            guard case .structure(let fields) = item, fields.count == 2, case .string(let name) = fields[0] else {
                return nil
            }
            // A setting of an unexpected type (another tesserad version) still lists the account,
            // with what could not be read shown as unknown.
            let info = (try? AccountInfo(dbusValue: item))
                ?? AccountInfo(name: name, issuer: "", kind: "", clientID: nil, scopes: [], audience: [], audienceStyle: "",
                               mytokenServer: nil, loggedIn: nil, hasClientSecret: nil)
            return AccountView(info: info, fields: fields[1].entries.map { ($0.0, $0.1.json) })
        }
    }

    func serviceInfo() async throws(CLIError) -> ServiceInfo {
        // Any call activates the service; ListAccounts would too, but a Peer ping is the cheapest.
        try await ping()
        let owner = (try? await connection.nameOwner(of: Self.service))?.rawValue ?? "?"
        var version = "(version unknown)"
        if let value = try? await property(AgentProperty.version.rawValue, interface: Self.interface, path: Self.object),
           let text = value.stringValue {
            version = text
        }
        var fields: [(String, JSONValue)] = [("name", .string(AgentBus.name)), ("owner", .string(owner)),
                                             ("version", .string(version))]
        if let pid = try? await connection.callerProcessID(of: BusName(owner)) {
            fields.append(("pid", .integer(Int64(pid))))
        }
        return ServiceInfo(version: version, uniqueName: owner, fields: fields)
    }

    // MARK: Plumbing

    func call(_ member: String, _ arguments: [DBusValue], account: String?,
              destination: BusName = Self.service) async throws(CLIError) -> [DBusValue] {
        do {
            return try await connection.call(destination: destination, path: Self.object, interface: Self.interface,
                                             member: MemberName(member), arguments: arguments,
                                             timeout: Self.callTimeout)
        } catch {
            throw translate(error, member: member, account: account)
        }
    }

    /// `call` for arguments that carry a secret: sent to the unique name that owns io.tessera.Agent1
    /// now, once the bus vouches that it runs as this user — not to whoever owns the name later, nor
    /// to another user's process that a permissive bus let own it.
    func callWithSecret(_ member: String, _ arguments: [DBusValue], account: String?) async throws(CLIError) -> [DBusValue] {
        try await call(member, arguments, account: account, destination: trustedOwner())
    }

    /// org.freedesktop.DBus.Peer.Ping: the cheapest call, and it activates the service.
    private func ping() async throws(CLIError) {
        do {
            _ = try await connection.call(destination: Self.service, path: Self.object,
                                          interface: InterfaceName(stringLiteral: "org.freedesktop.DBus.Peer"),
                                          member: MemberName(stringLiteral: "Ping"))
        } catch {
            throw translate(error, member: "Ping", account: nil)
        }
    }

    private func trustedOwner() async throws(CLIError) -> BusName {
        var owner = try? await connection.nameOwner(of: Self.service)
        if owner == nil {
            // Not running yet: a Peer ping makes the bus start it.
            try await ping()
            owner = try? await connection.nameOwner(of: Self.service)
        }
        guard let owner else { throw .serviceUnreachable(Self.startHint) }
        let ownUserID = UInt32(getuid())
        let userID: UInt32
        do { userID = try await connection.callerUserID(of: owner) } catch {
            throw translate(error, member: "GetConnectionUnixUser", account: nil)
        }
        guard userID == ownUserID else {
            throw .runtime("""
                the owner of \(AgentBus.name) (\(owner)) runs as uid \(userID), not as you (uid \(ownUserID)); \
                nothing secret was sent to it. Stop that process and start tesserad
                """)
        }
        return owner
    }

    private func property(_ name: String, interface: InterfaceName, path: ObjectPath) async throws(CLIError) -> DBusValue? {
        do {
            let reply = try await connection.call(
                destination: Self.service, path: path, interface: .properties, member: MemberName(stringLiteral: "Get"),
                arguments: [.string(interface.rawValue), .string(name)], timeout: .seconds(10))
            return reply.first?.unwrappedVariant
        } catch {
            throw translate(error, member: name, account: nil)
        }
    }

    static func unexpectedReply(_ member: String, _ reply: [DBusValue]) -> CLIError {
        .runtime("tesserad answered \(member) with an unexpected reply (\(reply.map(\.signature.rawValue).joined())); "
            + "tessera and tesserad versions may differ: reinstall both")
    }

    /// The one place D-Bus failures become what the user reads.
    func translate(_ error: DBusError, member: String, account: String?) -> CLIError {
        Self.translate(error, member: member, account: account)
    }

    static func translate(_ error: DBusError, member: String, account: String?) -> CLIError {
        switch error {
        case .remote(let name, let message):
            if let agentError = AgentErrorName(wireName: name.rawValue) {
                return translate(agentError, message: message, account: account)
            }
            switch name.rawValue {
            case ErrorName.serviceUnknown.rawValue, ErrorName.nameHasNoOwner.rawValue,
                 "org.freedesktop.DBus.Error.NoServer":
                return .serviceUnreachable(Self.startHint)
            case let spawn where spawn.hasPrefix("org.freedesktop.DBus.Error.Spawn"):
                return .serviceUnreachable("the bus could not start tesserad (\(message)); " + Self.logHint)
            case ErrorName.noReply.rawValue, ErrorName.timeout.rawValue:
                return .runtime("tesserad did not answer \(member) in time; " + Self.logHint)
            case ErrorName.unknownMethod.rawValue, ErrorName.unknownProperty.rawValue,
                 ErrorName.unknownInterface.rawValue:
                return .runtime("the running tesserad does not support \(member); install matching tessera and tesserad versions")
            default:
                return .runtime("tesserad failed: \(message) (\(name))")
            }
        case .connectionFailed, .disconnected:
            return .serviceUnreachable("lost the session bus connection (\(error)); is the desktop session still running?")
        case .cancelled:
            return .interrupted
        default:
            return .runtime("D-Bus: \(error)")
        }
    }

    /// The service's message says what happened and what to do (its error table attaches the
    /// advice); the error's name alone decides the exit code. An empty message gets the name's
    /// advice from the contract.
    func translate(_ name: AgentErrorName, message: String, account: String?) -> CLIError {
        Self.translate(name, message: message, account: account)
    }

    static func translate(_ name: AgentErrorName, message: String, account: String?) -> CLIError {
        let line = message.isEmpty ? name.advice : message
        switch name {
        case .loginRequired: return .loginRequired(account: account ?? "<account>", detail: message)
        case .invalidArgument: return .usage(line)
        default: return .runtime(line)
        }
    }

    static let startHint = """
        tesserad is not running and the session bus cannot start it; start it with \
        `systemctl --user start tesserad` or `tesserad &`, or run `make install` so the bus starts it on demand
        """
    static let logHint = "see its log (`journalctl --user -u tesserad`, or its stderr)"
}

/// Device-flow signals, subscribed before the flow starts so a quick approval is not missed.
struct FlowWatch: Sendable {
    let signals: AsyncStream<SignalMessage>
    let client: AgentClient

    /// Waits for the flow at `path` to end. A signal only prompts a look at the flow's `State` at
    /// the service: anyone on the bus can emit a signal, only the service owns the property.
    func outcome(of path: String) async -> FlowOutcome {
        guard let path = try? ObjectPath(path) else { return .failed(.runtime("the service returned a bad flow path")) }
        // The flow may have ended between the reply and this point (e.g. an instant denial).
        if let finished = await finishedOutcome(path) { return finished }
        for await signal in signals where signal.path == path {
            if signal.member.rawValue == DeviceFlowMember.failed, signal.arguments.count == 2,
               case .string(let name) = signal.arguments[0], case .string(let message) = signal.arguments[1],
               let state = try? await client.flowState(path), state.isFinished {
                if let agentError = AgentErrorName(wireName: name) {
                    return .failed(client.translate(agentError, message: message, account: nil))
                }
                return .failed(.runtime("the login failed: \(message)"))
            }
            if let finished = await finishedOutcome(path) { return finished }
        }
        if Task.isCancelled { return .failed(.interrupted) }
        return .failed(.serviceUnreachable("lost the connection to tesserad while waiting for the login"))
    }

    private func finishedOutcome(_ path: ObjectPath) async -> FlowOutcome? {
        guard let state = try? await client.flowState(path), state.isFinished else { return nil }
        switch state {
        case .completed: return .completed
        case .denied: return .failed(.runtime("\(state.summary); run `tessera login` again and approve it"))
        case .expired: return .failed(.runtime("\(state.summary); run `tessera login` again"))
        case .cancelled: return .failed(.runtime(state.summary))
        case .failed, .pending: return nil
        }
    }
}

extension DBusValue {
    var stringValue: String? {
        if case .string(let text) = unwrappedVariant { return text }
        if case .objectPath(let path) = unwrappedVariant { return path.rawValue }
        return nil
    }

    var stringsValue: [String]? {
        guard case .array(_, let items) = unwrappedVariant else { return nil }
        return items.compactMap(\.stringValue)
    }

    var int64Value: Int64? {
        switch unwrappedVariant {
        case .int64(let value): value
        case .uint64(let value): Int64(exactly: value)
        case .int32(let value): Int64(value)
        case .uint32(let value): Int64(value)
        default: nil
        }
    }

    /// The entries of an `a{s…}` dictionary, in wire order, variants unwrapped.
    var entries: [(String, DBusValue)] {
        guard case .dictionary(_, _, let entries) = unwrappedVariant else { return [] }
        return entries.compactMap { entry in
            guard case .string(let key) = entry.key else { return nil }
            return (key, entry.value.unwrappedVariant)
        }
    }

    /// For display and `--json`: D-Bus values as JSON (byte arrays as numbers, paths as strings).
    var json: JSONValue {
        switch unwrappedVariant {
        case .string(let text): .string(text)
        case .objectPath(let path): .string(path.rawValue)
        case .signature(let signature): .string(signature.rawValue)
        case .bool(let flag): .bool(flag)
        case .byte(let value): .integer(Int64(value))
        case .int16(let value): .integer(Int64(value))
        case .uint16(let value): .integer(Int64(value))
        case .int32(let value): .integer(Int64(value))
        case .uint32(let value): .integer(Int64(value))
        case .int64(let value): .integer(value)
        case .uint64(let value): .integer(Int64(clamping: value))
        case .double(let value): .string(String(value))
        case .unixFD: .null
        case .array(_, let items): .array(items.map(\.json))
        case .dictionary: .object(entries.map { ($0.0, $0.1.json) })
        case .structure(let fields): .array(fields.map(\.json))
        case .variant(let inner): inner.json
        }
    }
}
