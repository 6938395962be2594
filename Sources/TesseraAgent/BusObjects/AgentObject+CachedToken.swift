import DBus
import FoundationEssentials
import TesseraAPI
import TesseraCore

/// A cached `GetToken` answered where the call arrives: on the D-Bus connection's thread, inside
/// the dispatch that read it, with no task, no actor hop and no reply built per call — the reply
/// is marshalled once per token and kept with it in the token cache (`TokenCache.attach`), so it
/// goes whenever the token is replaced, renamed or dropped.
///
/// It answers only when every check of the full handler (`getToken`) is known to pass without
/// waiting: a caller already verified and admitted, options the handler would accept, an account
/// of exactly that name, per-application consent known to be `allow`, and a token under the same
/// key valid for `min-valid`. A connection's first call qualifies when the object server holds its
/// caller's credentials already (peer-to-peer callers, bus callers just looked up): the caller is
/// identified from them here. Anything else — a caller not yet vouched for, `force`, an issuer
/// URL, a bad option, a miss — declines, and the handler answers as it always has, errors included.
extension AgentObject {
    func answerCachedToken(_ call: ImmediateCall) -> PreparedReply? {
        guard call.arguments.count == 2, case .string(let name) = call.arguments[0],
              let options = ImmediateTokenOptions(call.arguments[1]),
              let account = agent.account(named: name),
              let caller = admittedCaller(call, account: account) else { return nil }
        let key = options.scopes == nil && options.audience == nil
            ? defaultTokenKey(of: account)
            : TokenKey(account: account.name, scopes: options.scopes ?? account.scopes,
                       audience: options.audience ?? account.audience)
        guard let cached = agent.tokens.entry(key, minValid: TimeInterval(options.minValid)) else { return nil }
        logger.debug("GetToken from \(caller) (cached, answered on the bus thread)")
        if let prepared = cached.attachment as? PreparedReply { return prepared }
        guard let prepared = try? PreparedReply(Self.tokenReply(cached.token, of: account).body) else { return nil }
        // Refused when the token changed since `entry`: this reply still answers this call (it is
        // the token that was current when the call was read), and the next one makes its own.
        agent.tokens.attach(prepared, to: key, generation: cached.generation)
        return prepared
    }

    /// The key of a call that names no scopes or audience, made once per account and its
    /// scopes: checked against the account's current scopes and audience on every use (an
    /// identity check while the account is unchanged), so a SetAccount takes effect at once.
    func defaultTokenKey(of account: Account) -> TokenKey {
        if let known = defaultTokenKeys.withLock({ $0[account.name] }),
           known.scopes == account.scopes, known.audience == account.audience {
            return known.key
        }
        let key = TokenKey(account: account.name, scopes: account.scopes, audience: account.audience)
        defaultTokenKeys.withLock { keys in
            // Bounded by the accounts there are; names of removed or renamed ones go eventually.
            if keys.count >= 256 { keys.removeAll() }
            keys[account.name] = DefaultTokenKey(scopes: account.scopes, audience: account.audience, key: key)
        }
        return key
    }

    /// Who may be answered here, for the log: the caller when the object server vouches that it
    /// is the user's own and consent is known to allow it; nil otherwise (the handler decides).
    /// When the account allows every program, the program does not matter and is not looked up
    /// (no /proc reads for a one-shot caller): the uid alone decides.
    func admittedCaller(_ call: ImmediateCall, account: Account) -> String? {
        if agent.allowsEveryProgram(account: account.name) {
            if let known = callers.admittedIfKnown(call.sender) { return known.description }
            return callers.isOwnUser(call.vouched) ? call.sender.rawValue : nil
        }
        guard let caller = callers.admitted(call.sender, vouched: call.vouched),
              consentIsKnownToAllow(caller, account: account) else { return nil }
        return caller.description
    }

    /// THE consent hook of the immediate path (issue 17): true only when the consent store's
    /// synchronous decision for this caller's application and this account is `allow`. `ask` and
    /// `deny` return false, so the full handler (with its consent gate) decides.
    func consentIsKnownToAllow(_ caller: VerifiedCaller, account: Account) -> Bool {
        agent.decision(account: account.name, application: caller.application) == .allow
    }

    /// GetToken's reply for `token` of `account`: one definition for both paths.
    static func tokenReply(_ token: AccessToken, of account: Account) -> TokenReply {
        TokenReply(token: token.value, expiresAt: Int64(token.expiresAt.timeIntervalSince1970.rounded(.down)),
                   tokenType: token.tokenType, scopes: token.scopes, audience: token.audience,
                   issuer: account.issuer.absoluteString, account: account.name)
    }
}

/// A token key with the account settings it was made from.
struct DefaultTokenKey: Sendable {
    let scopes: [String]
    let audience: [String]
    let key: TokenKey
}

/// GetToken's options as far as a cached answer depends on them, read from the raw `a{sv}`
/// without building the options struct; nil for anything the full handler must look at: an
/// unknown key, a wrong type, a duplicate key, `force`, a value it would refuse.
struct ImmediateTokenOptions {
    var scopes: [String]?
    var audience: [String]?
    var minValid = GetTokenOption.defaultMinValid

    init?(_ value: DBusValue) {
        guard case .dictionary(_, _, let entries) = value else { return nil }
        var seen = Set<GetTokenOption>()
        for entry in entries {
            guard case .string(let key) = entry.key, let option = GetTokenOption(rawValue: key),
                  seen.insert(option).inserted, case .variant(let inner) = entry.value else { return nil }
            switch (option, inner) {
            case (.scopes, .array("s", let values)):
                guard let words = Self.words(values, option) else { return nil }
                scopes = words
            case (.audience, .array("s", let values)):
                guard let words = Self.words(values, option) else { return nil }
                audience = words
            case (.minValid, .uint32(let seconds)):
                minValid = seconds
            case (.force, .bool(let force)):
                guard !force else { return nil }
            case (.interactive, .bool):
                // Only a miss logs in; a cached answer is the same either way.
                break
            case (.timeout, .uint32(let seconds)):
                guard (1...AgentObject.maxTimeout).contains(seconds) else { return nil }
            case (.application, .string(let text)):
                guard (try? Validate.text(text, field: key)) != nil else { return nil }
            default:
                return nil
            }
        }
    }

    /// The same checks (and the same de-duplication) as the full handler's.
    private static func words(_ values: [DBusValue], _ option: GetTokenOption) -> [String]? {
        var strings: [String] = []
        strings.reserveCapacity(values.count)
        for value in values {
            guard case .string(let string) = value else { return nil }
            strings.append(string)
        }
        return try? Validate.words(strings, field: option.rawValue)
    }
}
