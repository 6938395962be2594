// Swift → Swift round trips of an exported Echo(s) → s over the session bus, in one process with two
// private connections (so every call crosses the bus daemon twice, like two processes would).
//
// Usage: dbus-echo-bench [--calls N] [--concurrency C] [--quiet]
//        dbus-echo-bench --serve NAME      (only the Echo service, for the C client; runs until killed)
// Prints p50/p99 of sequential calls and the throughput with C calls in flight. Also used by
// scripts/leakcheck.sh under valgrind: it closes everything and lets the loop threads end.
import DBus
#if canImport(Glibc)
import Glibc
#endif

var calls = 20_000
var concurrency = 64
var quiet = false
var serveName: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--calls": calls = Int(arguments.next() ?? "") ?? calls
    case "--concurrency": concurrency = Int(arguments.next() ?? "") ?? concurrency
    case "--quiet": quiet = true
    case "--serve": serveName = arguments.next()
    default: print("usage: dbus-echo-bench [--calls N] [--concurrency C] [--quiet] | --serve NAME"); exit(2)
    }
}

let interface: InterfaceName = "io.tessera.Bench1"
let path: ObjectPath = "/io/tessera/Bench1"

func serveEcho(on connection: Connection) async throws {
    var echo = ExportedInterface(interface)
    echo.method("Echo", inputs: [Argument("text", "s")], outputs: [Argument("text", "s")]) { $0.arguments }
    try await connection.export(echo, at: path)
}

// Everything lives inside run(): objects held by top-level globals are never released, which a leak
// checker would report (a weak-reference side table is not a visible pointer).
func run(calls: Int, concurrency: Int, quiet: Bool) async throws {
    let name = try BusName("io.tessera.Bench.P\(getpid())")

    let server = try await Connection.session()
    try await serveEcho(on: server)
    try await server.requestName(name)
    let client = try await Connection.session()

    @Sendable func echoOnce(_ text: String) async throws {
        let reply = try await client.call(destination: name, path: path, interface: interface, member: "Echo",
                                          arguments: [.string(text)])
        guard reply == [.string(text)] else { fatalError("wrong echo: \(reply)") }
    }

    for _ in 0..<min(1000, calls) { try await echoOnce("warm-up") }

    let clock = ContinuousClock()
    var samples: [Duration] = []
    samples.reserveCapacity(calls)
    for index in 0..<calls {
        let start = clock.now
        try await echoOnce("hello \(index)")
        samples.append(clock.now - start)
    }
    samples.sort()
    func micros(_ d: Duration) -> Double {
        let (s, a) = d.components
        return Double(s) * 1e6 + Double(a) / 1e12
    }
    let total = samples.reduce(Duration.zero, +)

    let callCount = calls, width = concurrency
    let parallelStart = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<width {
            group.addTask {
                for index in stride(from: worker, to: callCount, by: width) { try await echoOnce("p\(index)") }
            }
        }
        try await group.waitForAll()
    }
    let parallelElapsed = clock.now - parallelStart

    func oneDecimal(_ value: Double) -> String { String((value * 10).rounded() / 10) }
    if !quiet {
        let p50 = micros(samples[calls / 2]), p99 = micros(samples[calls * 99 / 100])
        let sequentialRate = Double(calls) / (micros(total) / 1e6)
        let parallelRate = Double(calls) / (micros(parallelElapsed) / 1e6)
        print("swift->swift sequential:  n=\(calls) p50=\(oneDecimal(p50)) us p99=\(oneDecimal(p99)) us calls/s=\(Int(sequentialRate))")
        print("swift->swift \(width) in flight on 1 connection: calls/s=\(Int(parallelRate))")
    }
    await client.close()
    await server.close()
}

if let serveName {
    let server = try await Connection.session()
    try await serveEcho(on: server)
    try await server.requestName(try BusName(serveName))
    while true { try await Task.sleep(for: .seconds(3600)) }
}
try await run(calls: calls, concurrency: concurrency, quiet: quiet)
// Let the connections' loop threads finish closing before the process exits.
try await Task.sleep(for: .milliseconds(200))
