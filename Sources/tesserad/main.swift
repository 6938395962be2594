// tesserad: the Tessera session service. Everything lives in TesseraAgent (Daemon.swift).
import DBus
import TesseraAgent

// The whole service runs on its D-Bus connection's event loop on the main thread: no libdispatch
// worker pool and no wake-ups while idle (EventLoopExecutors). Synchronous top level on purpose: a
// top-level `await` would start the default executors before these are installed.
EventLoopExecutors.run { await Daemon.main(CommandLine.arguments) }
