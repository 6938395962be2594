import Dispatch
import Glibc

/// Ctrl-C as an event a command can await, so a login can cancel its flow at the service before
/// the process exits. While a watcher is alive the default "die at once" action is off. The
/// watcher stays with the task that made it; only its `interrupts` stream crosses tasks.
final class InterruptWatcher {
    private let source: any DispatchSourceSignal
    let interrupts: AsyncStream<Void>

    init() {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        source.setEventHandler { continuation.yield() }
        source.resume()
        self.source = source
        self.interrupts = stream
    }

    deinit {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
