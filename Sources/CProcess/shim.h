// prctl(2) is variadic, which Swift does not import: one fixed-argument wrapper.
#include <sys/prctl.h>

// Other processes of the same user can no longer read this one's memory or /proc files
// (environ, mem) nor attach to it; reset by execve, so children are unaffected.
static inline int hoop_process_undumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
