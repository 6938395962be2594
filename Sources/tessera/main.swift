import Glibc
import TesseraCLI

// `exit()`, never `dispatchMain()`: see `TesseraMain.main`. The hot `tessera token NAME` and
// `tessera --version` run before (and without) the concurrency runtime.
exit(TesseraMain.main(argc: CommandLine.argc, argv: CommandLine.unsafeArgv))
