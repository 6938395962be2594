// The release `tessera`'s own copy of the two argv functions of the Swift runtime's
// CommandLine.cpp, so the static link does not take that object from libswiftCore.a.
//
// Why: in a static executable that object finds argv at start-up by reading /proc/self/maps
// (the kernel formats every mapping of the 31 MB binary) and scanning the stack from `environ`,
// in a C++ constructor that runs before main in every process, ~3 % of a `tessera token`. glibc
// hands argc and argv to ELF constructors directly, so this one keeps them from there.
//
// Same contract as the runtime's (swift/stdlib/public/stubs/CommandLine.cpp): the override wins,
// else the process's argv. Release only (TESSERA_STATIC_CLI): debug links the shared runtime,
// whose own definitions must stay the only ones. If a toolchain's CommandLine.cpp.o ever defines
// another symbol the stdlib needs, the link fails with a duplicate symbol, never silently.
#include "static_stubs.h"

#ifdef TESSERA_STATIC_CLI
static char **overrideArgv;
static int overrideArgc;
static char **processArgv;
static int processArgc;
static char *emptyArgv[] = {0};

__attribute__((constructor(101))) static void keepArguments(int argc, char **argv, char **envp) {
    (void)envp;
    processArgc = argc;
    processArgv = argv;
}

char **_swift_stdlib_getUnsafeArgvArgc(int *outArgLen) {
    if (overrideArgv) {
        *outArgLen = overrideArgc;
        return overrideArgv;
    }
    if (!processArgv) {
        *outArgLen = 0;
        return emptyArgv;
    }
    *outArgLen = processArgc;
    return processArgv;
}

void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc) {
    overrideArgv = argv;
    overrideArgc = argc;
}
#endif
