@_spi(ExperimentalCustomExecutors) @_spi(ExperimentalScheduling) import _Concurrency
import CDBus
import CLinuxShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One pthread that owns a `DBusConnection*`: the `SerialExecutor` of its `Connection` actor and
/// the `TaskExecutor` its method handlers prefer, so a handler that needs no other thread replies
/// from where the call arrived, without a single thread hand-off.
///
/// The thread runs a `poll(2)` loop over libdbus's watches plus an eventfd for wake-ups, with
/// libdbus's timeouts folded into the poll timeout. Jobs and plain closures (`submit`) run
/// on it in FIFO order; after them it dispatches the connection until no data remains. It sleeps in
/// `poll` with no timer when idle (zero wake-ups), and the eventfd is written only when it sleeps.
/// Once the thread has ended, jobs still arriving (a handler task outliving its connection) go to
/// the global executor rather than being lost.
///
/// A program may make one loop its *process loop* (`EventLoopExecutors.run`): the main and default
/// executor of Swift concurrency, run on the main thread, with `Task.sleep` timers in its poll
/// timeout. The first `Connection` then attaches to it, so the whole program — its tasks, its main
/// actor, its connection — runs on one thread without libdispatch's worker pool.
final class EventLoop: MainExecutor, TaskExecutor, SchedulingExecutor {
    private struct Timer {
        let handle: CHandle
        var deadline: ContinuousClock.Instant?
    }

    /// A job to run at `deadline` (`Task.sleep`); `order` keeps equal deadlines first-in first-out.
    private struct Scheduled {
        let deadline: ContinuousClock.Instant
        let order: UInt64
        let job: UnownedJob
    }

    private struct State {
        var jobs: [UnownedJob] = []
        /// Sorted by deadline, soonest first.
        var scheduled: [Scheduled] = []
        var scheduledCount: UInt64 = 0
        var work: [@Sendable () -> Void] = []
        var watches: [CHandle] = []
        var timers: [Timer] = []
        var connection: CHandle?
        var closeOnExit: CHandle?
        var sleeping = false
        var stopping = false
        var finished = false

        /// True (and cleared) when the loop sleeps in poll and therefore needs the eventfd.
        mutating func takeSleeping() -> Bool {
            defer { sleeping = false }
            return sleeping
        }
    }

    private let state = Mutex(State())
    private let wakeFD: Int32
    private let threadID = Atomic<UInt>(0)
    /// The process loop runs on the thread that calls `run()` and outlives its connections.
    private let isProcessLoop: Bool

    /// The program's process loop, once `EventLoopExecutors` has installed it.
    private static let process = Mutex<(loop: EventLoop?, claimed: Bool)>((nil, false))

    /// A loop on a new thread of its own, named `name`.
    init(name: String) {
        wakeFD = Self.makeWakeFD()
        isProcessLoop = false
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box(loop: self, name: name)).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            tessera_set_thread_name(box.name)
            box.loop.loop()
            return nil
        }, context)
        precondition(status == 0, "pthread_create failed: \(status)")
        pthread_detach(thread)
    }

    /// The process loop: no thread of its own; `run()` runs it on the caller's (the main) thread.
    private init(processLoop: ()) {
        wakeFD = Self.makeWakeFD()
        isProcessLoop = true
    }

    private static func makeWakeFD() -> Int32 {
        let fd = tessera_eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        precondition(fd >= 0, "eventfd failed: errno \(errno)")
        return fd
    }

    /// The process loop, made on first use.
    static var processLoop: EventLoop {
        process.withLock { process in
            if let loop = process.loop { return loop }
            let loop = EventLoop(processLoop: ())
            process.loop = loop
            return loop
        }
    }

    /// The loop a new connection runs on: the process loop for the program's first connection when
    /// there is one, else a new thread.
    static func forConnection(name: String) -> EventLoop {
        let adopted = process.withLock { process -> EventLoop? in
            guard let loop = process.loop, !process.claimed else { return nil }
            process.claimed = true
            return loop
        }
        return adopted ?? EventLoop(name: name)
    }

    private final class Box {
        let loop: EventLoop
        let name: String
        init(loop: EventLoop, name: String) { self.loop = loop; self.name = name }
    }

    var isOnLoopThread: Bool {
        pthread_equal(pthread_self(), pthread_t(threadID.load(ordering: .acquiring))) != 0
    }

    // MARK: SerialExecutor

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.finished else { return (false, false) }
            state.jobs.append(job)
            return (true, state.takeSleeping())
        }
        if wake { self.wake() }
        if !accepted { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    func checkIsolated() {
        precondition(isOnLoopThread, "expected to run on the D-Bus connection's loop thread")
    }

    /// Runs `work` on the loop thread; false when the loop has stopped (the closure is then dropped).
    @discardableResult
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.finished else { return (false, false) }
            state.work.append(work)
            return (true, state.takeSleeping())
        }
        if wake { self.wake() }
        return accepted
    }

    /// Ends the thread after the queued work; closes and unrefs `connection` on the way out. The
    /// process loop only closes the connection: it goes on serving the program.
    func stop(closing connection: CHandle?) {
        if isProcessLoop {
            submit { [self] in
                state.withLock { $0.connection = nil }
                if let connection {
                    dbus_connection_close(connection.pointer)
                    dbus_connection_unref(connection.pointer)
                }
                Self.process.withLock { $0.claimed = false }
            }
            return
        }
        state.withLock { state in
            state.stopping = true
            state.closeOnExit = connection
        }
        wake()
    }

    // MARK: SchedulingExecutor (Task.sleep on the process loop)

    func enqueue<C: Clock>(_ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C) {
        schedule(UnownedJob(job), in: delay as? Duration)
    }

    func enqueue<C: Clock>(_ job: consuming ExecutorJob, at instant: C.Instant, tolerance: C.Duration?, clock: C) {
        schedule(UnownedJob(job), in: clock.now.duration(to: instant) as? Duration)
    }

    /// The runtime schedules only on the continuous and suspending clocks, whose durations are
    /// `Duration`; a clock with other durations (nil here) gets its job run at once rather than never.
    private func schedule(_ job: UnownedJob, in delay: Duration?) {
        let deadline = ContinuousClock.now + max(.zero, delay ?? .zero)
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.finished else { return (false, false) }
            state.scheduledCount += 1
            let entry = Scheduled(deadline: deadline, order: state.scheduledCount, job: job)
            let index = state.scheduled.firstIndex { $0.deadline > deadline } ?? state.scheduled.endIndex
            state.scheduled.insert(entry, at: index)
            // Only a new soonest deadline shortens the sleep.
            return (true, index == 0 && state.takeSleeping())
        }
        if wake { self.wake() }
        if !accepted { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
    }

    // MARK: RunLoopExecutor (the process loop)

    /// Runs the process loop on the calling thread until `stop()`.
    func run() throws {
        precondition(isProcessLoop, "only the process loop runs on its caller's thread")
        loop()
    }

    func runUntil(_ condition: () -> Bool) throws {
        // Thread donation (a synchronous wait on async work) would deadlock a one-thread program.
        preconditionFailure("the process loop cannot be run until a condition")
    }

    /// Ends `run()` after the queued work.
    func stop() {
        state.withLock { $0.stopping = true }
        wake()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private func wakeFromOtherThread() {
        if !isOnLoopThread { wake() }
    }

    // MARK: libdbus integration (called on the loop thread)

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

    private static func deadline(of timeout: CHandle) -> ContinuousClock.Instant? {
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

    // MARK: The loop

    private func loop() {
        threadID.store(UInt(pthread_self()), ordering: .releasing)
        let serialExecutor = asUnownedSerialExecutor()
        let taskExecutor = asUnownedTaskExecutor()
        var fds: [pollfd] = []
        var polled: [CHandle] = []
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
            if let connection = state.withLock({ $0.connection }) {
                while dbus_connection_get_dispatch_status(connection.pointer) == DBUS_DISPATCH_DATA_REMAINS {
                    dbus_connection_dispatch(connection.pointer)
                }
            }

            let (watches, nextDeadline, hasWork) = state.withLock { state in
                let hasWork = !state.jobs.isEmpty || !state.work.isEmpty || state.stopping
                state.sleeping = !hasWork
                let timerDeadline = state.timers.compactMap(\.deadline).min()
                let deadlines = [timerDeadline, state.scheduled.first?.deadline].compactMap { $0 }
                return (state.watches, deadlines.min(), hasWork)
            }
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

