// swift-tools-version: 6.1
// Tessera: an OpenID Connect token agent for the Linux desktop.
// Layout and the rules for who may import whom: ../shared/DESIGN.md and README.md.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// This manifest's directory, for the linker flags that name a file of the package (SwiftPM does
/// not promise which directory the linker runs in).
let packageRoot = String(#filePath.dropLast("/Package.swift".count))

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tesserad", targets: ["tesserad"]),
        .executable(name: "tessera", targets: ["tessera"]),
        .library(name: "DBus", targets: ["DBus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C libraries, found through pkg-config; the shims only hold what Swift cannot import.
        .systemLibrary(name: "CDBus", pkgConfig: "dbus-1", providers: [.apt(["libdbus-1-dev"])]),
        // libsecret-1.so.0 (libsecret-1-0), dlopened on the first keyring call: not linked, so GLib,
        // GObject and GIO are not mapped into every tesserad at exec (Sources/CLibSecret/include/clibsecret.h).
        .target(name: "CLibSecret"),
        // libcurl (headers from libcurl4-openssl-dev), dlopened on the first request: not linked,
        // so tesserad starts without it and its ~25 libraries (Sources/CCurl/include/ccurl.h).
        .target(name: "CCurl"),
        // X25519 + XSalsa20-Poly1305 for oidc-agent's socket protocol (Swift has no XSalsa20).
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),

        // Linux calls Glibc's Swift module lacks: eventfd and thread names for the DBus loop thread,
        // pidfds, SO_PEERPIDFD and O_PATH for the caller lookup.
        .target(name: "CLinuxShims"),
        .target(name: "DBus", dependencies: ["CDBus", "CLinuxShims", "Posix"], swiftSettings: strict),
        // The one redacting secret type, for every module that holds a secret; no dependencies, no
        // Foundation, so the CLI can use it too.
        .target(name: "Secrets", swiftSettings: strict),
        .target(name: "Keyring", dependencies: ["CLibSecret", "Secrets", "Posix"], swiftSettings: strict),
        .target(name: "OIDC", dependencies: ["CCurl", "Secrets", "Posix", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        // The one thin layer over the POSIX calls made outside the C libraries' own wrappers
        // (whole writes, durable file replacement, spawning, readlink, pidfds and /proc); no Foundation.
        .target(name: "Posix", dependencies: ["CLinuxShims"], swiftSettings: strict),
        // The contract's names and keys as plain Swift: no D-Bus, no Foundation.
        .target(name: "TesseraNames", swiftSettings: strict),
        .target(name: "TesseraAPI", dependencies: ["DBus", "TesseraNames"], swiftSettings: strict),
        // oidc-agent's client protocol and its socket server, free of D-Bus and of the agent.
        .target(name: "OIDCAgentProtocol",
                dependencies: ["CSodium", "OIDC", "Secrets", "Posix", "TesseraNames", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // For tesserad, in C: prctl(PR_SET_DUMPABLE) (variadic) and the SIGTERM/SIGINT handler (async-signal-safe).
        .target(name: "CHardening"),
        // QR codes for the device flow: a notification image (service) and terminal blocks (CLI).
        .target(name: "QRCode", swiftSettings: strict),
        // The service's core: accounts, tokens, logins. It cannot import DBus (not a dependency, and
        // `swift build --explicit-target-dependency-import-check error` checks that it does not).
        .target(
            name: "TesseraCore",
            dependencies: ["Keyring", "OIDC", "Secrets", "TesseraNames", "Posix", .product(name: "Logging", package: "swift-log")],
            // The known providers ship inside the binary: no install path to find at run time.
            resources: [.embedInCode("Providers/providers.json")],
            swiftSettings: strict),
        // The service's D-Bus objects, desktop (notifications, tray) and daemon, over the core.
        .target(
            name: "TesseraAgent",
            dependencies: ["TesseraCore", "DBus", "Keyring", "OIDC", "Secrets", "TesseraAPI", "QRCode", "CHardening", "Posix", "OIDCAgentProtocol",
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        .target(
            name: "TesseraCLI",
            dependencies: ["DBus", "TesseraAPI", "QRCode", "Posix", "Secrets",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        // Release tesserad links the Swift runtime and FoundationEssentials statically: fewer
        // libraries to load and relocate at activation, and only the code it uses resident
        // (README, Performance). The functions it runs (at start, then serving and logging in) are
        // laid out together, from a profile (Sources/tesserad/hot-functions.order, made by
        // bench/order-functions.sh): with them scattered through the 11 MB of code, the pages the
        // kernel maps around each one touched were 3 MiB more resident. Names missing from a stale
        // list are skipped; the list changes only the layout, never what runs.
        .executableTarget(
            name: "tesserad", dependencies: ["DBus", "TesseraAgent"], exclude: ["hot-functions.order"], swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims",
                                            "-lswiftSynchronization", "-use-ld=lld", "-Xclang-linker", "-no-pie",
                                            "-Xlinker", "--symbol-ordering-file=\(packageRoot)/Sources/tesserad/hot-functions.order",
                                            "-Xlinker", "--no-warn-symbol-ordering"],
                                           .when(configuration: .release))]),
        // Release `tessera` is a fully static executable (glibc, libdbus-1.a, the Swift runtime): no
        // dynamic loader work at start, which was 72 % of `tessera token` (README, Performance).
        // `-static` makes CDBus's `-ldbus-1` pick Debian's libdbus-1.a; CStaticStubs stands in for
        // the two server-only libsystemd functions it refers to, and for the Swift runtime's argv
        // functions (whose own object reads /proc/self/maps at every start of a static executable).
        // Link-time only: nothing is compiled twice.
        .target(name: "CStaticStubs", cSettings: [.define("TESSERA_STATIC_CLI", .when(configuration: .release))]),
        .executableTarget(
            name: "tessera", dependencies: ["TesseraCLI", "CStaticStubs"], exclude: ["hot-functions.order"], swiftSettings: strict,
            // The functions a `tessera token` run executes, packed together (bench/order-functions.sh):
            // fewer of the static binary's pages to fault in at every start.
            linkerSettings: [.unsafeFlags(["-static-executable", "-l_FoundationCollections", "-l_FoundationCShims",
                                            "-lswiftSynchronization", "-use-ld=lld",
                                            "-Xlinker", "--symbol-ordering-file=\(packageRoot)/Sources/tessera/hot-functions.order",
                                            "-Xlinker", "--no-warn-symbol-ordering"],
                                           .when(configuration: .release))]),

        // Benchmark only (bench/dbus-roundtrip/run.sh); not run by `make test`.
        .executableTarget(name: "dbus-echo-bench", dependencies: ["DBus"], path: "bench/dbus-roundtrip/swift",
                          swiftSettings: strict),

        // Starts and stops the real parts tests run against (buses, keyring, provider).
        .target(name: "TestSupport", dependencies: ["DBus"], path: "Tests/TestSupport", swiftSettings: strict),

        .testTarget(name: "DBusTests", dependencies: ["DBus", "TestSupport"], swiftSettings: strict),
        // Runs one keyring operation in a child process on another bus (see its header comment).
        .executableTarget(name: "keyring-probe", dependencies: ["Keyring", "Secrets"], path: "Tests/KeyringProbe", swiftSettings: strict),
        // libsecret's real headers (and libraries), for KeyringTests to check CLibSecret's hand-declared ABI.
        .systemLibrary(name: "CLibSecretHeaders", path: "Tests/CLibSecretHeaders", pkgConfig: "libsecret-1",
                       providers: [.apt(["libsecret-1-dev"])]),
        .testTarget(name: "KeyringTests", dependencies: ["Keyring", "Secrets", "TestSupport", "CLibSecret", "CLibSecretHeaders"],
                    swiftSettings: strict),
        .testTarget(name: "OIDCAgentProtocolTests", dependencies: ["OIDCAgentProtocol", "Posix", "Secrets", "TestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "QRCodeTests", dependencies: ["QRCode"], swiftSettings: strict),
        .testTarget(name: "OIDCTests", dependencies: ["OIDC", "Secrets", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TesseraCoreTests", dependencies: ["TesseraCore", "TesseraNames", "OIDC", "Keyring", "Secrets"], swiftSettings: strict),
        .testTarget(
            name: "TesseraAgentTests",
            dependencies: ["TesseraAgent", "TesseraCore", "TesseraAPI", "DBus", "Secrets", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "TesseraCLITests",
            dependencies: ["TesseraCLI", "TesseraAPI", "DBus", "Secrets", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
