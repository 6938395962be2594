// tesserad: the Tessera session service. Everything lives in TesseraAgent (Daemon.swift).
import TesseraAgent

await Daemon.run()
