import DBus
import TesseraAPI

/// The CLI's side of the `io.tessera.Agent1` contract: each method is one D-Bus call, and every
/// failure becomes a `CLIError` whose one line says what to do.
struct AgentClient: Sendable {
    let connection: Connection

    private static let service = BusName(stringLiteral: AgentBus.name)
    private static let object = ObjectPath(stringLiteral: AgentBus.objectPath)
    private static let interface = InterfaceName(stringLiteral: AgentBus.interface)
    private static let flowInterface = InterfaceName(stringLiteral: AgentBus.deviceFlowInterface)
    private static let flowPaths = ObjectPath(stringLiteral: AgentBus.flowPathPrefix)

    static func connect() async throws(CLIError) -> AgentClient {
        do {
            return AgentClient(connection: try await Connection.session())
        } catch {
            throw .serviceUnreachable("""
                cannot connect to the session bus (\(error)); run tessera inside a desktop session \
                or set DBUS_SESSION_BUS_ADDRESS
                """)
        }
    }

    // MARK: Tokens

    func token(_ request: TokenRequest) async throws(CLIError) -> IssuedToken {
        var options: [String: DBusValue] = [:]
        if !request.scopes.isEmpty { options[GetTokenOption.scopes.rawValue] = .strings(request.scopes) }
        if !request.audience.isEmpty { options[GetTokenOption.audience.rawValue] = .strings(request.audience) }
        if let minValid = request.minValid { options[GetTokenOption.minValid.rawValue] = .uint32(minValid) }
        if request.force { options[GetTokenOption.force.rawValue] = .bool(true) }
        options[GetTokenOption.application.rawValue] = .string("tessera")
        let reply = try await call(AgentMethod.getToken.rawValue, [.string(request.account), .dictionary(options)],
                                   account: request.account)
        guard reply.count == 3, case .string(let token) = reply[0], case .int64(let expiresAt) = reply[1] else {
            throw unexpectedReply(AgentMethod.getToken.rawValue, reply)
        }
        let info = Dictionary(reply[2].entries, uniquingKeysWith: { first, _ in first })
        return IssuedToken(
            token: SecretText(token), expiresAt: expiresAt,
            tokenType: info[TokenInfoKey.tokenType.rawValue]?.stringValue ?? "Bearer",
            scopes: info[TokenInfoKey.scopes.rawValue]?.stringsValue ?? request.scopes,
            audience: info[TokenInfoKey.audience.rawValue]?.stringsValue ?? request.audience,
            issuer: info[TokenInfoKey.issuer.rawValue]?.stringValue ?? "")
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
        let reply = try await call(AgentMethod.startDeviceFlow.rawValue, [.string(account), .dictionary([:])],
                                   account: account)
        guard reply.count == 2, case .objectPath(let path) = reply[0] else {
            throw unexpectedReply(AgentMethod.startDeviceFlow.rawValue, reply)
        }
        let info = Dictionary(reply[1].entries, uniquingKeysWith: { first, _ in first })
        guard let userCode = info[DeviceFlowInfoKey.userCode.rawValue]?.stringValue,
              let uri = info[DeviceFlowInfoKey.verificationURI.rawValue]?.stringValue else {
            throw unexpectedReply(AgentMethod.startDeviceFlow.rawValue, reply)
        }
        return DeviceFlowStart(
            path: path.rawValue, userCode: userCode, verificationURI: uri,
            verificationURIComplete: info[DeviceFlowInfoKey.verificationURIComplete.rawValue]?.stringValue,
            expiresAt: info[DeviceFlowInfoKey.expiresAt.rawValue]?.int64Value ?? 0)
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

    func passwordLogin(account: String, username: String, password: SecretText) async throws(CLIError) {
        let options: [String: DBusValue] = [
            PasswordLoginOption.username.rawValue: .string(username),
            PasswordLoginOption.password.rawValue: .string(password.revealed()),
        ]
        _ = try await call(PasswordLoginMethod.name, [.string(account), .dictionary(options)], account: account)
    }

    // MARK: Accounts

    func revoke(account: String, keepOnFailure: Bool) async throws(CLIError) -> Bool {
        var options: [String: DBusValue] = [:]
        if keepOnFailure { options[RevokeOption.keepOnFailure.rawValue] = .bool(true) }
        let reply = try await call(AgentMethod.revoke.rawValue, [.string(account), .dictionary(options)], account: account)
        guard reply.count == 1, case .bool(let revoked) = reply[0] else {
            throw unexpectedReply(AgentMethod.revoke.rawValue, reply)
        }
        return revoked
    }

    func addAccount(_ account: NewAccount) async throws(CLIError) {
        var settings: [String: DBusValue] = [AccountSetting.issuer.rawValue: .string(account.issuer)]
        if let clientID = account.clientID { settings[AccountSetting.clientID.rawValue] = .string(clientID) }
        if let secret = account.clientSecret { settings[AccountSetting.clientSecret.rawValue] = .string(secret.revealed()) }
        if !account.scopes.isEmpty { settings[AccountSetting.scopes.rawValue] = .strings(account.scopes) }
        if !account.audience.isEmpty { settings[AccountSetting.audience.rawValue] = .strings(account.audience) }
        if let style = account.audienceStyle { settings[AccountSetting.audienceStyle.rawValue] = .string(style) }
        _ = try await call(AgentMethod.addAccount.rawValue, [.string(account.name), .dictionary(settings)],
                           account: account.name)
    }

    func removeAccount(name: String, keepAtProvider: Bool) async throws(CLIError) {
        let options: [String: DBusValue] = [RemoveAccountOption.revoke.rawValue: .bool(!keepAtProvider)]
        _ = try await call(AgentMethod.removeAccount.rawValue, [.string(name), .dictionary(options)], account: name)
    }

    func listAccounts() async throws(CLIError) -> [AccountInfo] {
        let reply = try await call(AgentMethod.listAccounts.rawValue, [], account: nil)
        guard reply.count == 1, case .array(_, let items) = reply[0] else {
            throw unexpectedReply(AgentMethod.listAccounts.rawValue, reply)
        }
        return items.compactMap { item in
            guard case .structure(let fields) = item, fields.count == 2, case .string(let name) = fields[0] else {
                return nil
            }
            return AccountInfo(name: name, fields: fields[1].entries.map { ($0.0, $0.1.json) })
        }
    }

    func serviceInfo() async throws(CLIError) -> ServiceInfo {
        // Any call activates the service; ListAccounts would too, but a Peer ping is the cheapest.
        do {
            _ = try await connection.call(destination: Self.service, path: Self.object,
                                          interface: InterfaceName(stringLiteral: "org.freedesktop.DBus.Peer"),
                                          member: MemberName(stringLiteral: "Ping"))
        } catch {
            throw translate(error, member: "Ping", account: nil)
        }
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

    private func call(_ member: String, _ arguments: [DBusValue], account: String?) async throws(CLIError) -> [DBusValue] {
        do {
            return try await connection.call(destination: Self.service, path: Self.object, interface: Self.interface,
                                             member: MemberName(member), arguments: arguments,
                                             timeout: .seconds(120))
        } catch {
            throw translate(error, member: member, account: account)
        }
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

    private func unexpectedReply(_ member: String, _ reply: [DBusValue]) -> CLIError {
        .runtime("tesserad answered \(member) with an unexpected reply (\(reply.map(\.signature.rawValue).joined())); "
            + "tessera and tesserad versions may differ: reinstall both")
    }

    /// The one place D-Bus failures become what the user reads.
    func translate(_ error: DBusError, member: String, account: String?) -> CLIError {
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

    func translate(_ name: AgentErrorName, message: String, account: String?) -> CLIError {
        let line = message.isEmpty ? name.advice : message
        switch name {
        case .loginRequired:
            return .loginRequired(account: account ?? "<account>", detail: message)
        case .invalidArgument:
            return .usage(line)
        case .noSuchAccount:
            return .runtime("\(line); see `tessera account list`, or add it with `tessera account add`")
        case .keyringLocked, .keyringUnavailable, .network, .accessDenied, .expiredToken, .timeout:
            return .runtime("\(line); \(name.advice)")
        case .provider, .cancelled, .notPermitted:
            return .runtime(line)
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
        case .denied: return .failed(.runtime("the login was denied at the provider; run `tessera login` again and approve it"))
        case .expired: return .failed(.runtime("the login code expired before it was approved; run `tessera login` again"))
        case .cancelled: return .failed(.runtime("the login was cancelled"))
        case .failed, .pending: return nil
        }
    }
}

extension DBusValue {
    static func strings(_ values: [String]) -> DBusValue { .array(of: "s", values.map(DBusValue.string)) }

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
