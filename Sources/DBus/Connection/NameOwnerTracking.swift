/// Which unique name owns a well-known name right now, for signal subscriptions whose rule names a
/// well-known sender. The bus routes by match rule only for broadcasts: anyone may send a signal
/// addressed to us with any path, interface and member. Such a signal's sender is the forger's
/// unique name, so comparing it with the current owner tells the two apart.
struct OwnerTrack {
    var subscribers = 1
    /// nil while unknown or when the name has no owner: then no signal passes.
    var owner: BusName?
}

extension MatchRule {
    /// `NameOwnerChanged` from the bus daemon, for `name` or for every name.
    static func nameOwnerChanged(of name: BusName?) -> MatchRule {
        MatchRule(sender: .bus, path: "/org/freedesktop/DBus", interface: .bus, member: "NameOwnerChanged",
                  arguments: name.map { [0: $0.rawValue] } ?? [:])
    }

    /// The well-known name a signal must come from the current owner of, if the rule names one.
    var wellKnownSender: BusName? {
        guard let sender, !sender.isUnique, sender != .bus else { return nil }
        return sender
    }
}

extension Connection {
    /// Starts (or joins) tracking the owner of `name`; returns once the current owner is known.
    func trackOwner(of name: BusName) async throws(DBusError) {
        if ownerTracks[name] != nil {
            ownerTracks[name]?.subscribers += 1
            return
        }
        ownerTracks[name] = OwnerTrack()
        do {
            try await busCall("AddMatch", [.string(MatchRule.nameOwnerChanged(of: name).description)])
        } catch {
            ownerTracks[name] = nil
            throw error
        }
        // The answer is applied on the loop in message order: a NameOwnerChanged before it is older
        // than the answer, one after it is newer and wins.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            busCallOnLoop("GetNameOwner", [.string(name.rawValue)]) { connection, result in
                connection.ownerTracks[name]?.owner = try? result.get().decode(BusName.self)
                done.resume()
            }
        }
    }

    func untrackOwner(of name: BusName) async {
        guard var track = ownerTracks[name] else { return }
        track.subscribers -= 1
        guard track.subscribers == 0 else {
            ownerTracks[name] = track
            return
        }
        ownerTracks[name] = nil
        if isOpen { _ = try? await busCall("RemoveMatch", [.string(MatchRule.nameOwnerChanged(of: name).description)]) }
    }

    /// Whether `signal` may reach a subscription with `rule`: always, unless the rule names a
    /// well-known sender, whose current owner must then have sent it.
    func comesFromOwner(_ signal: SignalMessage, for rule: MatchRule) -> Bool {
        guard let name = rule.wellKnownSender else { return true }
        guard let owner = ownerTracks[name]?.owner else { return false }
        return signal.sender == owner
    }

    /// A signal from the bus daemon itself, seen on the loop before any subscriber: keeps the owner
    /// tracks and the caller check's cache in step with the bus, in message order.
    func noteBusSignal(_ message: Message) {
        guard message.sender == .bus, message.isSignal("org.freedesktop.DBus", "NameOwnerChanged"),
              let arguments = try? message.arguments(),
              let (nameText, _, newText) = try? arguments.decode(String.self, String.self, String.self),
              let name = try? BusName(nameText) else { return }
        let newOwner = newText.isEmpty ? nil : try? BusName(newText)
        if ownerTracks[name] != nil { ownerTracks[name]?.owner = newOwner }
        if newOwner == nil, name.isUnique { forgetCaller(name) }
    }
}
