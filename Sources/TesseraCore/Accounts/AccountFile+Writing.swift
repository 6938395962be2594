import Foundation
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
        let list: [[String: Any]] = accounts.map { account in
            var object: [String: Any] = [
                "name": account.name,
                AccountSetting.kind.rawValue: account.kind.rawValue,
                AccountSetting.issuer.rawValue: account.issuer.absoluteString,
                AccountSetting.scopes.rawValue: account.scopes,
                AccountSetting.audience.rawValue: account.audience,
                AccountSetting.audienceStyle.rawValue: account.audienceStyle.rawValue,
            ]
            if let clientID = account.clientID { object[AccountSetting.clientID.rawValue] = clientID }
            if let server = account.mytokenServer { object[AccountSetting.mytokenServer.rawValue] = server.absoluteString }
            if let fields = account.mytokenRequest { object[AccountSetting.mytokenRequest.rawValue] = MytokenJSON.object(fields).foundation }
            if let uri = account.registrationClientURI {
                object[AccountSetting.registrationClientURI.rawValue] = uri.absoluteString
            }
            if let granted = account.loginScopes { object[Self.loginScopesKey] = granted }
            if !account.policy.isDefault {
                object[Self.policyKey] = [
                    Self.policyDefaultKey: account.policy.defaultDecision.rawValue,
                    Self.policyApplicationsKey: Dictionary(uniqueKeysWithValues: account.policy.rules.map { ($0.key.key, $0.value.rawValue) }),
                ] as [String: Any]
            }
            return object
        }
        // Schema 1 while no account has a policy or a login-scopes record: an older tesserad
        // still reads the file.
        let schema = accounts.allSatisfy { $0.policy.isDefault && $0.loginScopes == nil } ? 1 : Self.schemaVersion
        let root: [String: Any] = ["schema": schema, "accounts": list]
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw .writeFailed(file: path, reason: "cannot encode the accounts")
        }
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
