import FoundationEssentials
import Logging
import OIDC
import OIDCAgentProtocol
import Posix
import Secrets
import TesseraAPI
import TesseraCore

/// tesserad's oidc-agent socket (DESIGN.md, "oidc-agent compatibility"): which path is served,
/// switching it on `SetSettings`, and persisting the choice.
///
/// The socket's own loop thread never touches the bus; each request is answered by
/// `OIDCAgentAnswers` through the same `Agent.token` path as `GetToken` (cache, single-flight,
/// keyring). The actor only guards the on/off state, never a request.
public actor CompatibilitySocket {
    private let agent: Agent
    private let logger: Logger
    private let settingsFile: SettingsFile
    private let environment: [String: String]
    private var server: OIDCAgentSocketServer?
    /// The same consent check as GetToken's; until it is set, token requests are refused.
    private var consent: ConsentGate?
    private var configured = OIDCAgentSocketValue.off
    private var problem = ""
    /// Set while tests or a developer pass `--oidc-agent-socket`: the setting on disk is left alone
    /// until the user changes it with `SetSettings`.
    private var commandLineOverride = false

    public init(agent: Agent, settingsFile: SettingsFile = .standard(), logger: Logger,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.agent = agent
        self.settingsFile = settingsFile
        self.logger = logger
        self.environment = environment
    }

    /// At start: the command line's choice if given, else the saved setting. A failure is logged
    /// and reported by `GetSettings`; the service goes on serving D-Bus.
    public func start(commandLine: String?) async {
        var value = commandLine
        if value == nil {
            let (settings, fileProblem) = settingsFile.load()
            if let fileProblem { logger.error("settings file problem: \(fileProblem.description)") }
            value = settings.oidcAgentSocket
        } else {
            commandLineOverride = true
        }
        configured = value ?? OIDCAgentSocketValue.off
        do throws(AgentError) { try await serve(configured) } catch {
            logger.error("oidc-agent socket not served: \(error.message)")
        }
    }

    /// `SetSettings`' `oidc-agent-socket`: applied at once, saved only when it works.
    public func set(_ value: String) async throws(AgentError) {
        let field = ServiceSetting.oidcAgentSocket.rawValue
        guard value == OIDCAgentSocketValue.off || value == OIDCAgentSocketValue.defaultPath
              || (value.hasPrefix("/") && !value.contains("\0") && value.utf8.count < 108) else {
            throw .invalidArgument(field: field, reason: "must be an absolute path (shorter than 108 bytes), \"default\" or \"\" (off)")
        }
        let previous = configured
        do throws(AgentError) {
            try await serve(value)
        } catch {
            // Put back what was served before, so a typo does not switch the socket off.
            do throws(AgentError) { try await serve(previous) } catch {}
            throw error
        }
        configured = value
        commandLineOverride = false
        do { try settingsFile.save(ServiceSettings(oidcAgentSocket: value)) } catch {
            throw .notPermitted("the oidc-agent socket is \(value.isEmpty ? "off" : "on") now, but the setting was not saved: \(error.description)")
        }
    }

    /// Call before `start`: the socket's token requests go through the agent object's consent gate.
    public func use(consent: ConsentGate) {
        self.consent = consent
    }

    public var settings: ServiceSettingsMessage {
        ServiceSettingsMessage(oidcAgentSocket: configured, oidcAgentSocketActive: server?.path ?? "",
                               oidcAgentSocketProblem: problem)
    }

    public func stop() async {
        let running = server
        server = nil
        await running?.stop()
    }

    /// Stops what runs, starts `value`'s socket. Throws (and records the problem) when the new
    /// socket cannot be set up.
    private func serve(_ value: String) async throws(AgentError) {
        await stop()
        problem = ""
        guard value != OIDCAgentSocketValue.off else { return }
        let path = value == OIDCAgentSocketValue.defaultPath ? SocketLocation.defaultPath(environment: environment) : value
        let agent = self.agent, logger = self.logger, consent = self.consent
        do {
            let socket = try ListeningSocket(path: path)
            let server = try OIDCAgentSocketServer(socket: socket, logger: logger) { request, peer in
                await OIDCAgentAnswers.answer(request, from: peer, agent: agent, consent: consent, logger: logger)
            }
            server.start()
            self.server = server
        } catch {
            problem = error.description
            throw .invalidArgument(field: ServiceSetting.oidcAgentSocket.rawValue, reason: error.description)
        }
    }
}

/// oidc-agent's requests answered by the agent: the same token path, caller description and login
/// notification as `GetToken`.
enum OIDCAgentAnswers {
    /// The peer as the kernel vouches for it, read the same way as a bus caller (so consent
    /// rules keyed on its application hold here too).
    static func caller(from peer: PeerCredentials) -> VerifiedCaller {
        VerifiedCaller.identify(
            uniqueName: "oidc-agent socket", userID: peer.userID, processID: peer.processID > 0 ? UInt32(peer.processID) : nil,
            handle: peer.process, handleTakenAtConnect: peer.processPinnedAtConnect, securityLabel: peer.securityLabel,
            askedAt: peer.acceptedAt)
    }

    static func answer(_ request: AgentRequest, from peer: PeerCredentials, agent: Agent, consent: ConsentGate?,
                       logger: Logger) async -> AgentReply {
        let caller = caller(from: peer)
        switch request {
        case .accessToken(let tokenRequest):
            logger.debug("oidc-agent socket: access_token for \(tokenRequest.selector) from \(caller)")
            return await accessToken(tokenRequest, caller: caller, agent: agent, consent: consent, logger: logger)
        case .check:
            return .success
        case .loadedAccounts:
            // Every Tessera account is "loaded": there is no separate unlock step.
            return .loadedAccounts(agent.accounts.map(\.name))
        case .accountInfo:
            var issuers: [(issuer: String, accounts: [String])] = []
            for account in agent.accounts {
                let issuer = account.issuer.absoluteString
                if let index = issuers.firstIndex(where: { $0.issuer == issuer }) {
                    issuers[index].accounts.append(account.name)
                } else {
                    issuers.append((issuer: issuer, accounts: [account.name]))
                }
            }
            return .accountInfo(issuers)
        case .idToken(let idRequest):
            // The same held ID token (or refresh with openid) as GetIdToken.
            logger.debug("oidc-agent socket: id_token for \(idRequest.selector) from \(caller)")
            do throws(AgentError) {
                let account = try agent.resolve(idRequest.selector.nameOrIssuer)
                try await admit(caller, account: account.name, item: .idToken, hint: nil, consent: consent)
                let token = try await agent.idToken(account: account.name, minValid: GetTokenOption.defaultMinValid, force: false)
                return .idToken(Secret(token.value), issuer: account.issuer.absoluteString)
            } catch {
                return failure(error)
            }
        case .unknown(let name):
            logger.notice("oidc-agent socket: unknown request \"\(name ?? "")\" from \(caller)")
            return .unknownRequest
        }
    }

    /// The consent gate, or a refusal when there is none yet (never a token without the check).
    static func admit(_ caller: VerifiedCaller, account: String, item: ConsentItem, hint: String?,
                      consent: ConsentGate?) async throws(AgentError) {
        guard let consent else { throw .notPermitted("tesserad is not ready to hand out tokens yet; try again") }
        try await consent.check(caller, account: account, item: item, hint: hint)
    }

    static func accessToken(_ tokenRequest: AccessTokenRequest, caller: VerifiedCaller, agent: Agent, consent: ConsentGate?,
                            logger: Logger) async -> AgentReply {
        var request = TokenRequest(account: tokenRequest.selector.nameOrIssuer)
        do throws(AgentError) {
            if let scopes = tokenRequest.scopes { request.scopes = try Validate.words(scopes, field: "scope") }
            if let audience = tokenRequest.audience { request.audience = try Validate.words(audience, field: "audience") }
            if tokenRequest.force {
                request.force = true
            } else if let minValid = tokenRequest.minValidPeriod {
                // Negative values other than -1 mean "any valid token", as in oidc-agent.
                request.minValid = UInt32(clamping: max(0, minValid))
            }
            request.requestedBy = caller.describe(hint: tokenRequest.applicationHint)
            try await admit(caller, account: request.account, item: .accessToken(scopes: request.scopes, audience: request.audience),
                            hint: tokenRequest.applicationHint, consent: consent)
            let (token, account) = try await agent.token(request)
            return .accessToken(Secret(token.value), issuer: account.issuer.absoluteString,
                                expiresAt: Int64(token.expiresAt.timeIntervalSince1970.rounded(.down)))
        } catch .loginRequired(let account, let reason) {
            // As GetToken with `interactive`: the login starts and its notification shows; unlike it,
            // the client is answered at once (oidc-token has no way to wait), with what to do.
            do throws(AgentError) {
                _ = try await agent.startDeviceFlow(account: account, scopes: nil, notify: true, requestedBy: request.requestedBy)
            } catch {
                return failure(.loginRequired(account: account, reason: reason), extra: "starting the login failed: \(error.message)")
            }
            return .failure(error: AgentError.loginRequired(account: account, reason: reason).message,
                            info: "A login notification is open: approve it, then run the command again.")
        } catch {
            if case .noSuchAccount = error, case .issuer(let issuer) = tokenRequest.selector {
                return .failure(error: "no Tessera account for the issuer \(issuer)", info: AgentErrorName.noSuchAccount.advice)
            }
            logger.info("oidc-agent socket: no token for \(tokenRequest.selector) (\(caller)): \(error.message)")
            return failure(error)
        }
    }

    /// Tessera's message as oidc-agent's failure: `oidc-token` prints `Error: <message>`.
    static func failure(_ error: AgentError, extra: String? = nil) -> AgentReply {
        .failure(error: error.message, info: extra)
    }
}
