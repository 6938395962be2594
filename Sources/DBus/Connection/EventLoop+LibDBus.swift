import CDBus

/// libdbus integration: a connection's watches, timeouts and wake-ups, called on the loop thread.
extension EventLoop {
    /// Hooks the connection's watches, timeouts and wake-ups into this loop; it is the loop's
    /// own connection, closed with it.
    func attach(_ connection: OpaquePointer) {
        hook(connection)
        state.withLock { $0.connection = CHandle(connection) }
    }

    /// Stops dispatching the connection (it is being closed by its owner on this thread).
    func detach() {
        state.withLock { $0.connection = nil }
    }

    /// Hooks a peer-to-peer connection in beside the loop's own: dispatched on this thread too,
    /// until `detachPeer`. Its owner closes it.
    func attachPeer(_ connection: OpaquePointer) {
        hook(connection)
        state.withLock { $0.peers.append(CHandle(connection)) }
    }

    /// Unhooks a peer connection: no more dispatch, and its watches and timeouts leave the poll set.
    func detachPeer(_ connection: OpaquePointer) {
        dbus_connection_set_watch_functions(connection, nil, nil, nil, nil, nil)
        dbus_connection_set_timeout_functions(connection, nil, nil, nil, nil, nil)
        dbus_connection_set_wakeup_main_function(connection, nil, nil, nil)
        dbus_connection_set_dispatch_status_function(connection, nil, nil, nil)
        state.withLock { $0.peers.removeAll { $0.pointer == connection } }
    }

    /// Hooks a listening `DBusServer`'s watches and timeouts in: its new connections are accepted
    /// on this thread.
    func attachServer(_ server: OpaquePointer) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        dbus_server_set_watch_functions(server, addWatchFunction, removeWatchFunction, toggledWatchFunction, me, nil)
        dbus_server_set_timeout_functions(server, addTimeoutFunction, removeTimeoutFunction, toggledTimeoutFunction, me, nil)
    }

    func detachServer(_ server: OpaquePointer) {
        dbus_server_set_watch_functions(server, nil, nil, nil, nil, nil)
        dbus_server_set_timeout_functions(server, nil, nil, nil, nil, nil)
    }

    private func hook(_ connection: OpaquePointer) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        dbus_connection_set_watch_functions(connection, addWatchFunction, removeWatchFunction, toggledWatchFunction, me, nil)
        dbus_connection_set_timeout_functions(
            connection, addTimeoutFunction, removeTimeoutFunction, toggledTimeoutFunction, me, nil)
        dbus_connection_set_wakeup_main_function(connection, wakeUpFunction, me, nil)
        // May fire on any thread: it only wakes the loop, which re-checks the status every iteration.
        dbus_connection_set_dispatch_status_function(connection, { _, _, data in
            guard let data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().wakeFromOtherThread()
        }, me, nil)
    }

    fileprivate func addWatch(_ watch: CHandle) {
        state.withLock { $0.watches.append(watch) }
        wakeFromOtherThread()
    }

    fileprivate func removeWatch(_ watch: CHandle) {
        state.withLock { $0.watches.removeAll { $0.pointer == watch.pointer } }
    }
    static func deadline(of timeout: CHandle) -> ContinuousClock.Instant? {
        guard dbus_timeout_get_enabled(timeout.pointer) != 0 else { return nil }
        return .now + .milliseconds(Int(dbus_timeout_get_interval(timeout.pointer)))
    }

    fileprivate func addTimer(_ timeout: CHandle) {
        let timer = Timer(handle: timeout, deadline: Self.deadline(of: timeout))
        state.withLock { $0.timers.append(timer) }
        wakeFromOtherThread()
    }

    fileprivate func removeTimer(_ timeout: CHandle) {
        state.withLock { $0.timers.removeAll { $0.handle.pointer == timeout.pointer } }
    }

    fileprivate func toggleTimer(_ timeout: CHandle) {
        let deadline = Self.deadline(of: timeout)
        state.withLock { state in
            if let index = state.timers.firstIndex(where: { $0.handle.pointer == timeout.pointer }) {
                state.timers[index].deadline = deadline
            }
        }
        wakeFromOtherThread()
    }
}

// The callbacks libdbus calls for a connection's or a server's watches and timeouts (the same
// types for both); the user data is the loop, unretained (it outlives what it serves).
private let addWatchFunction: DBusAddWatchFunction = { watch, data in
    guard let watch, let data else { return 0 }
    Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().addWatch(CHandle(watch))
    return 1
}
private let removeWatchFunction: DBusRemoveWatchFunction = { watch, data in
    guard let watch, let data else { return }
    Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().removeWatch(CHandle(watch))
}
private let toggledWatchFunction: DBusWatchToggledFunction = { _, data in
    guard let data else { return }
    Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().wakeFromOtherThread()
}
private let addTimeoutFunction: DBusAddTimeoutFunction = { timeout, data in
    guard let timeout, let data else { return 0 }
    Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().addTimer(CHandle(timeout))
    return 1
}
private let removeTimeoutFunction: DBusRemoveTimeoutFunction = { timeout, data in
    guard let timeout, let data else { return }
    Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().removeTimer(CHandle(timeout))
}
private let toggledTimeoutFunction: DBusTimeoutToggledFunction = { timeout, data in
    guard let timeout, let data else { return }
    Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().toggleTimer(CHandle(timeout))
}
private let wakeUpFunction: DBusWakeupMainFunction = { data in
    guard let data else { return }
    Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().wakeFromOtherThread()
}
