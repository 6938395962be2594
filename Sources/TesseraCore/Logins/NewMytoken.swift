import FoundationEssentials
import OIDC
import TesseraNames

/// `tessera mytoken new`: the mytoken server's login for a mytoken the caller takes, stored nowhere.
extension Agent {
    /// Capabilities asked for at login (the bus layer offers them as defaults).
    public static let loginCapabilities = MytokenSource.loginCapabilities

    /// Starts the server's login for a mytoken the caller takes with the flow's `takeDelivered()`
    /// once it completes: the consent page is notified like any login, but nothing is stored and
    /// no account changes. An untaken mytoken is dropped two minutes after the login ends.
    public func startNewMytoken(server: URL, provider: String?, request: MytokenRequest, notify: Bool,
                                requestedBy: String?) async throws(AgentError) -> Login {
        let client = try await mytokens.client(server)
        var wanted: URL?
        if let provider, !provider.contains("://"), let known = listProviders().first(where: { $0.shortName == provider }) {
            // A short name from the known-providers list (`-i egi`).
            wanted = known.issuer
        } else if let provider, !provider.contains("://") {
            // Else one of the server's providers by its published name.
            let offered = client.configuration.providersSupported
            let key = provider.lowercased()
            let matches = offered.filter {
                $0.name?.lowercased() == key || $0.name?.lowercased().split(separator: " ").first.map(String.init) == key
                    || URL(string: $0.issuer)?.host?.lowercased().split(separator: ".").contains(where: { $0 == key }) == true
            }
            guard matches.count == 1, let match = URL(string: matches[0].issuer) else {
                throw .invalidArgument(field: CreateMytokenKey.oidcIssuer.rawValue, reason: "\"\(provider.prefix(64))\" "
                    + (matches.isEmpty ? "names none" : "names more than one") + " of the providers of \(server.absoluteString): "
                    + offered.map { ($0.name.map { "\($0) " } ?? "") + "(\($0.issuer))" }.joined(separator: ", "))
            }
            wanted = match
        } else if let provider {
            wanted = try Validate.serverURL(provider, field: CreateMytokenKey.oidcIssuer.rawValue)
        }
        let issuer = try MytokenSource.oidcIssuer(wanted, offeredBy: client.configuration)
        let login: MytokenLogin
        do { login = try await client.startLogin(oidcIssuer: issuer.absoluteString, request) } catch {
            throw AgentError(error, account: nil)
        }
        let label = "a new mytoken from \(server.host ?? server.absoluteString)"
        // Numbered like every login (its flow object's path), but no account's pending login.
        let flow = logins.number { Login(number: $0, account: label, mytokenLogin: login, scopes: [], requestedBy: requestedBy) }
        logger.info("mytoken login \(flow.number) started for a new mytoken by \(requestedBy ?? "the service")")
        await currentObserver?.flowStarted(flow, notify: notify)
        flow.attach(poller: Task { [self] in
            do throws(MytokenError) {
                flow.deliver(try await client.waitForLogin(login))
                if flow.finish(.completed) { logger.info("mytoken login \(flow.number) completed: a new mytoken for its caller") }
            } catch {
                let agentError = AgentError(error, account: nil)
                let state: DeviceFlowState = switch error {
                case .accessDenied: .denied
                case .loginExpired, .expiredCode: .expired
                case .cancelled: .cancelled
                default: .failed
                }
                if flow.finish(state, failure: agentError) { logger.notice("mytoken login \(flow.number) ended: \(agentError)") }
            }
            await currentObserver?.flowFinished(flow)
            try? await Task.sleep(for: .seconds(120))
            _ = flow.takeDelivered()
        })
        return flow
    }
}
