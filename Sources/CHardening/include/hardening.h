#ifndef TESSERA_CHARDENING_H
#define TESSERA_CHARDENING_H
// prctl(2) is variadic, which Swift cannot call (and STYLE.md forbids calling through a cast);
// this fixed-arity wrapper is the only reason this target exists.

/// Marks the process non-dumpable: no core dumps and no ptrace attach by other processes of the
/// same user, so tokens in memory stay in memory. Returns 0, or -1 with errno set.
int tessera_set_not_dumpable(void);

/// 1 when the process is dumpable, 0 when not, -1 on error.
int tessera_is_dumpable(void);

#endif
