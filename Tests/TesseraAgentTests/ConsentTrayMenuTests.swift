import DBus
import Testing
import TesseraCore
@testable import TesseraAgent

/// The tray's part of issue 17, in process: waiting questions come first in the menu, each with an
/// "Allow once" and a "Deny" entry whose ids never collide with an account's.
@Suite struct ConsentTrayMenuTests {
    @Test func waitingQuestionsComeFirstWithAllowAndDenyEntries() throws {
        var ids = TrayMenuIDs()
        let questions = [PendingConsent(number: 7, text: "rclone (/usr/bin/rclone, pid 42) wants a token for egi_prod")]
        // An account whose name looks like a question's key still gets an id of its own.
        let menu = TrayMenu(accounts: [TrayAccount(name: "consent 7 true", state: .loggedIn)], questions: questions,
                            ids: &ids, revision: 2)
        let root = try #require(menu.items[TrayMenu.rootID])
        #expect(root.children.count == 6, "allow, deny, separator, the account, separator, quit")
        let allow = try #require(menu.items[root.children[0]])
        let deny = try #require(menu.items[root.children[1]])
        #expect(allow.properties["label"] == .string("Allow once: rclone (/usr/bin/rclone, pid 42) wants a token for egi__prod"))
        #expect(allow.action == .consent(question: 7, allow: true))
        #expect(deny.properties["label"] == .string("Deny: rclone (/usr/bin/rclone, pid 42) wants a token for egi__prod"))
        #expect(deny.action == .consent(question: 7, allow: false))
        #expect(menu.items[root.children[2]]?.properties["type"] == .string("separator"))
        #expect(Set([allow.id, deny.id, root.children[3]]).count == 3)

        // Answered: the entries go, the account keeps its id.
        let after = TrayMenu(accounts: [TrayAccount(name: "consent 7 true", state: .loggedIn)], ids: &ids, revision: 3)
        #expect(after.items[allow.id] == nil && after.items[deny.id] == nil)
        #expect(after.items[TrayMenu.rootID]?.children.first == root.children[3])
    }
}
