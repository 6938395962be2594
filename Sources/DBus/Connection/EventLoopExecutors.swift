@_spi(ExperimentalCustomExecutors) import _Concurrency
#if canImport(Glibc)
import Glibc
#endif

/// Runs a whole program on one event loop: the main thread becomes the loop of the program's
/// first D-Bus `Connection` and Swift concurrency's main and default executor (Swift 6.2+'s
/// `ExecutorFactory`, the "custom main and global executors" design).
///
/// Why: the default executors are libdispatch's, whose worker pool arms a 1 Hz work-queue monitor
/// timer the first time it runs a job and never disarms it — an idle service woke 60 times a
/// minute. With this, an idle program sleeps in one `poll(2)` with no timeout, `Task.sleep` is a
/// deadline in that poll, and a task calling the connection runs on the connection's own thread
/// with no hand-off. Blocking work (libsecret, HTTP) must go to threads of its own, never here.
public enum EventLoopExecutors {
    struct Factory: ExecutorFactory {
        static var mainExecutor: any MainExecutor { EventLoop.processLoop }
        static var defaultExecutor: any TaskExecutor { EventLoop.processLoop }
    }

    /// Installs the loop as the main and default executor, starts `main` as the first task, runs
    /// the loop on the calling thread, and exits the process with `main`'s status.
    ///
    /// Call it from synchronous top-level code (no top-level `await` in main.swift, which would
    /// start the default executors first), before anything else uses Swift concurrency.
    public static func run(_ main: @escaping @Sendable () async -> Int32) -> Never {
        _createExecutors(factory: Factory.self)
        let loop = EventLoop.processLoop
        Task { exit(await main()) }
        try? loop.run()
        exit(0)
    }
}
