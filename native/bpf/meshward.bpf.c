/* One object for the loader's skeleton. Each hook lives in its own file; they are compiled as
 * one unit so that they share the maps in maps.h without cross-object map linking. */
#include "sched_process_exec.bpf.c"
#include "sched_process_fork.bpf.c"
#include "sched_process_exit.bpf.c"
#include "sys_enter_namespaces.bpf.c"
#include "sys_enter_privileges.bpf.c"
#include "sys_enter_mount.bpf.c"
#include "sys_enter_openat.bpf.c"
#include "sys_enter_ptrace.bpf.c"
#include "sys_enter_module.bpf.c"
#include "sys_enter_bpf.bpf.c"
#include "sys_enter_dup.bpf.c"
#include "optional_creds.bpf.c"
