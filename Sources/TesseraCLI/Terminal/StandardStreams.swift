import Glibc

/// Unbuffered writes to the standard streams. Swift 6 forbids touching C's `stdout`/`stderr`
/// globals, and `print` buffers; writing the bytes straight to the descriptors keeps the order of
/// interleaved stdout and stderr lines as a user (or a test reading a pty) expects.
enum StandardStream: Int32 {
    case input = 0
    case output = 1
    case error = 2

    func put(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    func line(_ text: String) { put(text + "\n") }

    var isTerminal: Bool { isatty(rawValue) == 1 }
}

/// The process environment, read without Foundation (the CLI must not load it: startup time).
enum Environment {
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        let value = String(cString: raw)
        return value.isEmpty ? nil : value
    }
}
