import Glibc
import Secrets

/// Reads secrets (a password, a client secret) from the terminal with echo off, or from standard
/// input when it is not a terminal (scripts pipe them in). Secrets never come from argv, where any
/// user on the machine can read them in /proc.
struct SecretPrompt {
    /// The terminal to prompt on: /dev/tty, so a prompt works even with stdout redirected.
    private let terminal: Int32?

    init() {
        if StandardStream.input.isTerminal {
            let descriptor = open("/dev/tty", O_RDWR | O_CLOEXEC)
            terminal = descriptor >= 0 ? descriptor : nil
        } else {
            terminal = nil
        }
    }

    var isInteractive: Bool { terminal != nil }

    /// A line typed with echo (a user name): not secret, but read the same way.
    func readLine(prompt: String) throws(CLIError) -> String {
        if let terminal {
            writeAll(terminal, prompt)
            return try readLineBytes(from: terminal, what: prompt)
        }
        return try readLineBytes(from: 0, what: prompt)
    }

    /// A line typed with echo off. Signals are off too, so Ctrl-C arrives as a byte: the prompt then
    /// restores the terminal and reports an interruption instead of dying with echo still off.
    func readSecret(prompt: String) throws(CLIError) -> Secret {
        guard let terminal else { return Secret(try readLineBytes(from: 0, what: prompt)) }
        var saved = termios()
        guard tcgetattr(terminal, &saved) == 0 else {
            throw .runtime("cannot switch off the terminal echo: \(errnoText())")
        }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO | ISIG)
        quiet.c_lflag |= tcflag_t(ECHONL)
        writeAll(terminal, prompt)
        guard tcsetattr(terminal, TCSAFLUSH, &quiet) == 0 else {
            throw .runtime("cannot switch off the terminal echo: \(errnoText())")
        }
        defer { _ = tcsetattr(terminal, TCSAFLUSH, &saved) }
        return Secret(try readLineBytes(from: terminal, what: prompt))
    }

    /// `readSecret`, refusing an empty answer: "`what` is empty".
    func readRequiredSecret(prompt: String, what: String) throws(CLIError) -> Secret {
        let secret = try readSecret(prompt: prompt)
        if secret.isEmpty { throw .usage("\(what) is empty") }
        return secret
    }

    func close() {
        if let terminal { _ = Glibc.close(terminal) }
    }

    /// Byte by byte, so nothing after the line is consumed from a pipe that holds a second answer.
    private func readLineBytes(from descriptor: Int32, what: String) throws(CLIError) -> String {
        var bytes: [UInt8] = []
        defer { for index in bytes.indices { bytes[index] = 0 } }
        var byte: UInt8 = 0
        while true {
            let count = read(descriptor, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw .runtime("cannot read \(trimmedPrompt(what)): \(errnoText())") }
            if count == 0 {
                if bytes.isEmpty {
                    throw .usage("no input for \(trimmedPrompt(what)): type it at the prompt or pipe it on stdin")
                }
                break
            }
            if byte == UInt8(ascii: "\n") { break }
            if byte == interruptByte && descriptor != 0 {
                writeAll(descriptor, "\n")
                throw .interrupted
            }
            bytes.append(byte)
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Ctrl-C as the terminal delivers it when ISIG is off.
    private let interruptByte: UInt8 = 0x03

    private func trimmedPrompt(_ prompt: String) -> String {
        var text = Substring(prompt)
        while let last = text.last, last == " " || last == ":" { text = text.dropLast() }
        return text.lowercased()
    }

    private func writeAll(_ descriptor: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
    }
}
