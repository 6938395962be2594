// The accounts file (`$XDG_CONFIG_HOME/tessera/accounts.json`, which a user may edit by hand):
// parsing never traps, and whatever loads is written and read back unchanged.
import Foundation
@testable import TesseraCore

let scratch: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let directory = "\(base)/tessera-fuzz-accounts-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    return directory
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAccounts(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzBytes(data, size).rest
    let loaded = AccountFile(path: scratch + "/accounts.json").parse(bytes)
    for problem in loaded.problems { _ = problem.description }
    guard !loaded.accounts.isEmpty else { return 0 }
    let copy = AccountFile(path: scratch + "/copy.json")
    do {
        try copy.save(loaded.accounts)
    } catch {
        preconditionFailure("accounts that loaded cannot be saved: \(error)")
    }
    let reloaded = copy.load()
    precondition(reloaded.problems.isEmpty, "a saved file has problems: \(reloaded.problems)")
    precondition(reloaded.accounts == loaded.accounts, "accounts changed on a save and load")
    return 0
}
