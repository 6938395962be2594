import Glibc
import TesseraCLI

// `exit()`, never `dispatchMain()`: see `TesseraMain.main`. The hot `tessera token NAME` and
// `tessera --version` run before (and without) the concurrency runtime.
exit(TesseraMain.main(Array(CommandLine.arguments.dropFirst())))
