import Dispatch
import Glibc
import TesseraCLI

let arguments = Array(CommandLine.arguments.dropFirst())
// The hot `tessera token NAME` runs before (and without) the concurrency runtime: no top-level
// `await` in this file, so nothing starts a thread unless a command needs one.
if let status = TesseraMain.runFastPath(arguments) { exit(status) }
Task { exit(await TesseraMain.run(arguments)) }
dispatchMain()
