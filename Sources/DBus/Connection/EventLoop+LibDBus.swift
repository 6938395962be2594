import CDBus

/// libdbus integration: a connection's watches, timeouts and wake-ups, called on the loop thread.
extension EventLoop {
    /// Hooks the connection's watches, timeouts and wake-ups into this loop.
    func attach(_ connection: OpaquePointer) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        dbus_connection_set_watch_functions(connection, { watch, data in
            guard let watch, let data else { return 0 }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().addWatch(CHandle(watch))
            return 1
        }, { watch, data in
            guard let watch, let data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().removeWatch(CHandle(watch))
        }, { _, data in
            guard let data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().wakeFromOtherThread()
        }, me, nil)
        dbus_connection_set_timeout_functions(connection, { timeout, data in
            guard let timeout, let data else { return 0 }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().addTimer(CHandle(timeout))
            return 1
        }, { timeout, data in
            guard let timeout, let data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().removeTimer(CHandle(timeout))
        }, { timeout, data in
            guard let timeout, let data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().toggleTimer(CHandle(timeout))
        }, me, nil)
        dbus_connection_set_wakeup_main_function(connection, { data in
            guard let data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().wakeFromOtherThread()
        }, me, nil)
        // May fire on any thread: it only wakes the loop, which re-checks the status every iteration.
        dbus_connection_set_dispatch_status_function(connection, { _, _, data in
            guard let data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().wakeFromOtherThread()
        }, me, nil)
        state.withLock { $0.connection = CHandle(connection) }
    }

    /// Stops dispatching the connection (it is being closed by its owner on this thread).
    func detach() {
        state.withLock { $0.connection = nil }
    }

    private func addWatch(_ watch: CHandle) {
        state.withLock { $0.watches.append(watch) }
        wakeFromOtherThread()
    }

    private func removeWatch(_ watch: CHandle) {
        state.withLock { $0.watches.removeAll { $0.pointer == watch.pointer } }
    }

    static func deadline(of timeout: CHandle) -> ContinuousClock.Instant? {
        guard dbus_timeout_get_enabled(timeout.pointer) != 0 else { return nil }
        return .now + .milliseconds(Int(dbus_timeout_get_interval(timeout.pointer)))
    }

    private func addTimer(_ timeout: CHandle) {
        let timer = Timer(handle: timeout, deadline: Self.deadline(of: timeout))
        state.withLock { $0.timers.append(timer) }
        wakeFromOtherThread()
    }

    private func removeTimer(_ timeout: CHandle) {
        state.withLock { $0.timers.removeAll { $0.handle.pointer == timeout.pointer } }
    }

    private func toggleTimer(_ timeout: CHandle) {
        let deadline = Self.deadline(of: timeout)
        state.withLock { state in
            if let index = state.timers.firstIndex(where: { $0.handle.pointer == timeout.pointer }) {
                state.timers[index].deadline = deadline
            }
        }
        wakeFromOtherThread()
    }
}
