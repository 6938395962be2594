"""Lifetime shared by the test servers here (serve.py, faults.py): they end with the test process."""
import os
import signal
import threading
import time


def exit_with_parent():
    """A test process that dies without stopping us must not leave us running. SIGTERM ends us at
    once even if the parent spawned us with it blocked (the Swift test runner does)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def serve_until_parent_exits(server):
    """Serves until stopped (SIGTERM, Ctrl-C) or until the test process that started us is gone."""
    exit_with_parent()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
