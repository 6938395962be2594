@_spi(ExperimentalCustomExecutors) @_spi(ExperimentalScheduling) import _Concurrency
import CDBus
import CLinuxShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The thread's loop: run the queued jobs, dispatch the connection, sleep in poll(2), fire timers.
extension EventLoop {
    func loop() {
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        let serialExecutor = asUnownedSerialExecutor()
        let taskExecutor = asUnownedTaskExecutor()
        var fds: [pollfd] = []
        var polled: [CHandle] = []
        var lastPoll = ContinuousClock.now
        while true {
            let now = ContinuousClock.now
            let (jobs, work, stopping) = state.withLock { state in
                var jobs: [UnownedJob] = [], work: [@Sendable () -> Void] = []
                swap(&jobs, &state.jobs)
                swap(&work, &state.work)
                let due = state.scheduled.prefix { $0.deadline <= now }.count
                if due > 0 {
                    jobs += state.scheduled[..<due].map { $0.job }
                    state.scheduled.removeFirst(due)
                }
                return (jobs, work, state.stopping)
            }
            // One queue serves both roles, and a job cannot tell which one it was enqueued for:
            // running every job as both is sound, as this thread is the actor's only runner.
            for job in jobs { job.runSynchronously(isolatedTo: serialExecutor, taskExecutor: taskExecutor) }
            for item in work { item() }
            if stopping { break }

            // After the jobs: one of them may have closed the connection.
            let (connection, peers) = state.withLock { ($0.connection, $0.peers) }
            for served in [connection].compactMap({ $0 }) + peers {
                // A message handled just now may have closed and detached this peer.
                if served.pointer != connection?.pointer,
                   !state.withLock({ $0.peers.contains { $0.pointer == served.pointer } }) { continue }
                while dbus_connection_get_dispatch_status(served.pointer) == DBUS_DISPATCH_DATA_REMAINS {
                    dbus_connection_dispatch(served.pointer)
                }
            }

            let (watches, nextDeadline, hasWork) = state.withLock { state in
                let hasWork = !state.jobs.isEmpty || !state.work.isEmpty || state.stopping
                state.sleeping = !hasWork
                let timerDeadline = state.timers.compactMap(\.deadline).min()
                let deadlines = [timerDeadline, state.scheduled.first?.deadline].compactMap { $0 }
                return (state.watches, deadlines.min(), hasWork)
            }
            // More jobs are queued (a task resumed another): run them before looking at the
            // descriptors again, unless that was over a millisecond ago — a call's handling hops
            // through several jobs, and a poll(2) between each cost more than the jobs.
            if hasWork && ContinuousClock.now - lastPoll < .milliseconds(1) { continue }
            fds.removeAll(keepingCapacity: true)
            polled.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
            for watch in watches where dbus_watch_get_enabled(watch.pointer) != 0 {
                let flags = dbus_watch_get_flags(watch.pointer)
                var events: Int16 = 0
                if flags & DBUS_WATCH_READABLE.rawValue != 0 { events |= Int16(POLLIN) }
                if flags & DBUS_WATCH_WRITABLE.rawValue != 0 { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: dbus_watch_get_unix_fd(watch.pointer), events: events, revents: 0))
                polled.append(watch)
            }
            var timeoutMS: Int32 = -1
            if hasWork {
                timeoutMS = 0
            } else if let nextDeadline {
                let remaining = ContinuousClock.now.duration(to: nextDeadline)
                let (seconds, attoseconds) = remaining.components
                timeoutMS = remaining <= .zero ? 0 : Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            }
            let ready = poll(&fds, nfds_t(fds.count), timeoutMS)
            lastPoll = ContinuousClock.now
            state.withLock { $0.sleeping = false }
            if ready > 0 {
                if fds[0].revents != 0 {
                    var counter: UInt64 = 0
                    _ = read(wakeFD, &counter, 8)
                }
                for index in 1..<fds.count where fds[index].revents != 0 {
                    let watch = polled[index - 1]
                    // An earlier watch's handling may have removed this one.
                    guard state.withLock({ $0.watches.contains { $0.pointer == watch.pointer } }) else { continue }
                    let revents = Int32(fds[index].revents)
                    var flags: UInt32 = 0
                    if revents & Int32(POLLIN) != 0 { flags |= DBUS_WATCH_READABLE.rawValue }
                    if revents & Int32(POLLOUT) != 0 { flags |= DBUS_WATCH_WRITABLE.rawValue }
                    if revents & Int32(POLLERR) != 0 { flags |= DBUS_WATCH_ERROR.rawValue }
                    if revents & Int32(POLLHUP) != 0 { flags |= DBUS_WATCH_HANGUP.rawValue }
                    dbus_watch_handle(watch.pointer, flags)
                }
            }
            fireDueTimers()
        }
        let (leftover, orphans, connection) = state.withLock { state in
            state.finished = true
            var work: [@Sendable () -> Void] = [], jobs: [UnownedJob] = []
            swap(&work, &state.work)
            swap(&jobs, &state.jobs)
            jobs += state.scheduled.map { $0.job }
            state.scheduled.removeAll()
            return (work, jobs, state.closeOnExit)
        }
        for item in leftover { item() }
        for job in orphans { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
        if let connection {
            dbus_connection_close(connection.pointer)
            dbus_connection_unref(connection.pointer)
        }
        close(wakeFD)
    }

    private func fireDueTimers() {
        let now = ContinuousClock.now
        let due = state.withLock { state in
            state.timers.filter { $0.deadline.map { $0 <= now } ?? false }.map(\.handle)
        }
        for timeout in due {
            // libdbus timeouts repeat until removed or disabled: re-arm before handling.
            let alive = state.withLock { state -> Bool in
                guard let index = state.timers.firstIndex(where: { $0.handle.pointer == timeout.pointer }) else {
                    return false
                }
                state.timers[index].deadline = Self.deadline(of: timeout)
                return true
            }
            if alive { dbus_timeout_handle(timeout.pointer) }
        }
    }
}
