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
///
/// The queues and executor roles are here; `EventLoop+LibDBus.swift` hooks a connection's watches
/// and timeouts in, and `EventLoop+Poll.swift` is the thread's poll loop.
final class EventLoop: MainExecutor, TaskExecutor, SchedulingExecutor {
    struct Timer {
        let handle: CHandle
        var deadline: ContinuousClock.Instant?
    }

    /// A job to run at `deadline` (`Task.sleep`); `order` keeps equal deadlines first-in first-out.
    struct Scheduled {
        let deadline: ContinuousClock.Instant
        let order: UInt64
        let job: UnownedJob
    }

    struct State {
        var jobs: [UnownedJob] = []
        /// Sorted by deadline, soonest first.
        var scheduled: [Scheduled] = []
        var scheduledCount: UInt64 = 0
        var work: [@Sendable () -> Void] = []
        var watches: [CHandle] = []
        var timers: [Timer] = []
        var connection: CHandle?
        /// Peer-to-peer connections served beside `connection` (`Connection.servePeers`).
        var peers: [CHandle] = []
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

    let state = Mutex(State())
    let wakeFD: Int32
    let threadID = Atomic<UInt>(0)
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

    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    func wakeFromOtherThread() {
        if !isOnLoopThread { wake() }
    }

}
