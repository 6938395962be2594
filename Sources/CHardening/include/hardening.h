#ifndef TESSERA_CHARDENING_H
#define TESSERA_CHARDENING_H
// prctl(2) is variadic, which Swift cannot call (and STYLE.md forbids calling through a cast), and
// a signal handler must be async-signal-safe C: the two reasons this target exists.

/// Marks the process non-dumpable: no core dumps and no ptrace attach by other processes of the
/// same user, so tokens in memory stay in memory. Returns 0, or -1 with errno set.
int tessera_set_not_dumpable(void);

/// 1 when the process is dumpable, 0 when not, -1 on error.
int tessera_is_dumpable(void);

/// Routes SIGTERM and SIGINT to a pipe: the handler writes one byte per signal to it. Returns the
/// pipe's read end (close-on-exec), or -1 with errno set. Handlers, unlike SIG_IGN, are reset to
/// the default in children that exec, so helpers tesserad starts stay killable.
int tessera_stop_signals_pipe(void);

#endif
