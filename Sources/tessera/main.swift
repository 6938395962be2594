import Glibc
import TesseraCLI

exit(await TesseraMain.run(Array(CommandLine.arguments.dropFirst())))
