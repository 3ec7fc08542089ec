/* ptrace attach, seize and memory/register pokes (process injection). */
#include "common.h"

#define PTRACE_POKETEXT 4
#define PTRACE_POKEDATA 5
#define PTRACE_POKEUSER 6
#define PTRACE_SETREGS 13
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206

SEC("tracepoint/syscalls/sys_enter_ptrace")
int mw_sys_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	long req = (long)ctx->args[0];
	if (req != PTRACE_ATTACH && req != PTRACE_SEIZE && req != PTRACE_POKETEXT && req != PTRACE_POKEDATA &&
	    req != PTRACE_POKEUSER && req != PTRACE_SETREGS)
		return 0;
	if (!in_scope())
		return 0;
	struct mw_ptrace *e = reserve(MW_EV_PTRACE, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_PTRACE, sizeof(*e));
	e->request = req;
	e->target_pid = (__s32)ctx->args[1];
	e->pad0 = 0;
	submit_now(e);
	return 0;
}
