import Foundation
import OIDC
import TesseraNames

/// Reading a mytoken the caller passed (never verified here: only to find where to send it).
public enum Mytokens {
    /// The server a mytoken names: the `iss` claim of a JWT mytoken (short tokens name none).
    static func server(of token: SecretString) -> URL? {
        guard let issuer = claim("iss", of: token) else { return nil }
        return try? Validate.serverURL(issuer, field: CreateMytokenKey.mytokenServer.rawValue)
    }

    /// A string claim of a JWT mytoken's payload.
    public static func claim(_ name: String, of token: SecretString) -> String? {
        let parts = token.reveal().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let claims = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        return claims[name] as? String
    }

    /// The server for a mytoken the caller passed: the one named in the call, else the token's own.
    static func server(for token: SecretString, given: URL?, field: String) throws(AgentError) -> URL {
        if let given { return given }
        if let named = server(of: token) { return named }
        throw .invalidArgument(field: field, reason: "is required: the mytoken is not a JWT that names its server")
    }
}

/// Sub-mytokens of a mytoken account, and mytokens the caller holds.
extension Agent {
    /// A sub-mytoken (or short token, or transfer code) from `account`'s mytoken or from `passed`.
    /// For an account, a rotated parent is stored before the answer; for a passed token the
    /// replacement is returned for the caller to keep.
    public func createMytoken(account nameOrIssuer: String?, passed: SecretString?, server given: URL?,
                              request: MytokenRequest) async throws(AgentError) -> (IssuedMytoken, URL) {
        if let passed {
            let server = try Mytokens.server(for: passed, given: given, field: CreateMytokenKey.mytokenServer.rawValue)
            let client = try await mytokens.client(server)
            do { return (try await client.createMytoken(from: passed, request), server) } catch {
                throw AgentError(error, account: nil)
            }
        }
        guard let nameOrIssuer else {
            throw .invalidArgument(field: "account", reason: "name an account or pass a mytoken")
        }
        let account = try resolve(nameOrIssuer)
        guard account.kind == .mytoken else {
            throw .invalidArgument(field: "account", reason: "\"\(account.name)\" is not a mytoken account")
        }
        let server = try MytokenSource.server(of: account)
        let client = try await mytokens.client(server)
        var issued = try await withLoginSecret(of: account) { mytoken async throws(CredentialFailure) -> Refreshed<IssuedMytoken> in
            do throws(MytokenError) {
                let issued = try await client.createMytoken(from: mytoken, request)
                return Refreshed(value: issued, rotated: issued.rotatedMytoken)
            } catch {
                // Only this answer means the secret itself is gone; it goes, and the account needs a login.
                if case .invalidToken = error { throw .rejected(AgentError(error, account: account.name)) }
                throw .failed(AgentError(error, account: account.name))
            }
        }
        // The service stored the rotated parent; the caller has nothing to keep.
        issued.rotatedMytoken = nil
        return (issued, server)
    }

    /// An access token from a mytoken the caller holds: nothing stored, nothing cached.
    public func accessToken(withMytoken mytoken: SecretString, server given: URL?, scopes: [String], audience: [String],
                            oidcIssuer: String?, comment: String?) async throws(AgentError) -> (MytokenAccessToken, URL) {
        let server = try Mytokens.server(for: mytoken, given: given, field: MytokenTokenOption.mytokenServer.rawValue)
        let client = try await mytokens.client(server)
        do {
            return (try await client.accessToken(mytoken: mytoken, scopes: scopes, audiences: audience,
                                                 comment: comment, oidcIssuer: oidcIssuer), server)
        } catch {
            throw AgentError(error, account: nil)
        }
    }

    public func exchange(transferCode: SecretString, server: URL) async throws(AgentError) -> IssuedMytoken {
        let client = try await mytokens.client(server)
        do { return try await client.exchange(transferCode: transferCode) } catch { throw AgentError(error, account: nil) }
    }

    public func revoke(mytoken: SecretString, server given: URL?, recursive: Bool) async throws(AgentError) {
        let server = try Mytokens.server(for: mytoken, given: given, field: MytokenServerOption.mytokenServer.rawValue)
        let client = try await mytokens.client(server)
        do { try await client.revoke(mytoken, recursive: recursive) } catch { throw AgentError(error, account: nil) }
    }
}
