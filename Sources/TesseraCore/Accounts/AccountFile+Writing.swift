import FoundationEssentials
import Posix
#if canImport(Glibc)
import Glibc
#endif
import OIDC
import TesseraNames

/// Writing the account file: the whole list at once, through `ConfigFile` (the one atomic write),
/// keeping a file that failed to load aside first.
extension AccountFile {
    /// Writes all accounts atomically. `keepInvalid` keeps the current file under a new
    /// `.invalid` name (used when loading it reported problems, so the user's hand edits survive),
    /// and only once the new file is written in full: a failed write leaves everything as it was.
    /// Returns the name the old file was kept under, if any.
    @discardableResult
    public func save(_ accounts: [Account], keepInvalid: Bool = false) throws(AccountFileError) -> String? {
        try ConfigFile.makeDirectory(for: path)
        let list: [JSONValue] = accounts.map { account in
            var object: [String: JSONValue] = [
                "name": .string(account.name),
                AccountSetting.kind.rawValue: .string(account.kind.rawValue),
                AccountSetting.issuer.rawValue: .string(account.issuer.absoluteString),
                AccountSetting.scopes.rawValue: .array(account.scopes.map(JSONValue.string)),
                AccountSetting.audience.rawValue: .array(account.audience.map(JSONValue.string)),
                AccountSetting.audienceStyle.rawValue: .string(account.audienceStyle.rawValue),
            ]
            if let clientID = account.clientID { object[AccountSetting.clientID.rawValue] = .string(clientID) }
            if let server = account.mytokenServer { object[AccountSetting.mytokenServer.rawValue] = .string(server.absoluteString) }
            if let fields = account.mytokenRequest { object[AccountSetting.mytokenRequest.rawValue] = .object(fields) }
            if let uri = account.registrationClientURI {
                object[AccountSetting.registrationClientURI.rawValue] = .string(uri.absoluteString)
            }
            if let granted = account.loginScopes { object[Self.loginScopesKey] = .array(granted.map(JSONValue.string)) }
            if let uris = account.redirectURIs { object[Self.redirectURIsKey] = .array(uris.map(JSONValue.string)) }
            if !account.policy.isDefault {
                object[Self.policyKey] = [
                    Self.policyDefaultKey: .string(account.policy.defaultDecision.rawValue),
                    Self.policyApplicationsKey: .object(Dictionary(uniqueKeysWithValues: account.policy.rules.map {
                        ($0.key.key, JSONValue.string($0.value.rawValue))
                    })),
                ]
            }
            return .object(object)
        }
        // Schema 1 while no account has a policy, login-scopes or redirect-uris: an older tesserad
        // still reads the file.
        let schema = accounts.allSatisfy { $0.policy.isDefault && $0.loginScopes == nil && $0.redirectURIs == nil }
            ? 1 : Self.schemaVersion
        let root: JSONValue = ["schema": .integer(Int64(schema)), "accounts": .array(list)]
        let data = root.data(pretty: true)
        let staged = try ConfigFile.stage(data, for: path)
        var kept: String?
        if keepInvalid {
            do { kept = try keepAside() } catch {
                staged.discard()
                throw error
            }
        }
        do { try staged.commit() } catch {
            if let kept { Posix.unlink(kept) }  // the original is still in place
            throw .writeFailed(file: path, reason: error.description)
        }
        return kept
    }

    /// A second name for the current file, `.invalid` or the first free `.invalid.N` (a hard
    /// link, so the file itself stays in place until the new one replaces it). Nil when there is
    /// no file to keep.
    private func keepAside() throws(AccountFileError) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        for number in 0..<1000 {
            let name = number == 0 ? "\(path).invalid" : "\(path).invalid.\(number)"
            if link(path, name) == 0 { return name }
            if errno == EEXIST { continue }
            // A file system without hard links: copy it instead, never over an existing name.
            guard let data = FileManager.default.contents(atPath: path) else { break }
            let copy: FileDescriptor
            do { copy = try FileDescriptor.open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600) } catch {
                if error.code == EEXIST { continue }
                break
            }
            defer { copy.close() }
            do throws(Errno) {
                try data.withUnsafeBytes { buffer in Result { () throws(Errno) in try copy.writeAll(buffer) } }.get()
                try copy.persist(mode: 0o600)
                return name
            } catch {
                Posix.unlink(name)
                break
            }
        }
        throw .writeFailed(file: path, reason: "cannot keep the unreadable file as \(path).invalid: \(String(cString: strerror(errno)))")
    }
}
