/* Kernel module loading: init_module and finit_module. */
#include "common.h"

static __always_inline int emit_module(__u32 syscall, __s32 fd)
{
	if (!in_scope())
		return 0;
	struct mw_module *e = reserve(MW_EV_MODULE, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_MODULE, sizeof(*e));
	e->syscall = syscall;
	e->fd = fd;
	submit_now(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int mw_sys_enter_init_module(struct trace_event_raw_sys_enter *ctx)
{
	return emit_module(0, -1);
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int mw_sys_enter_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	return emit_module(1, (__s32)ctx->args[0]);
}
