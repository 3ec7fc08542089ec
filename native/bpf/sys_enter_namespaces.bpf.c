/* Namespace changes: setns, unshare and clone/clone3 with CLONE_NEW* flags. */
#include "common.h"

static __always_inline int emit_ns_change(__u32 type, __u64 flags, __s32 fd, __u32 syscall)
{
	struct mw_namespace_change *e = reserve(type, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, type, sizeof(*e));
	e->flags = flags;
	e->fd = fd;
	e->syscall = syscall;
	submit_now(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setns")
int mw_sys_enter_setns(struct trace_event_raw_sys_enter *ctx)
{
	if (!in_scope())
		return 0;
	return emit_ns_change(MW_EV_SETNS, ctx->args[1], (__s32)ctx->args[0], 0);
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int mw_sys_enter_unshare(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = ctx->args[0];
	if (!(flags & CLONE_NEW_MASK) || !in_scope())
		return 0;
	return emit_ns_change(MW_EV_UNSHARE, flags, -1, 0);
}

SEC("tracepoint/syscalls/sys_enter_clone")
int mw_sys_enter_clone(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = ctx->args[0];
	if (!(flags & CLONE_NEW_MASK) || !in_scope())
		return 0;
	return emit_ns_change(MW_EV_CLONE_NS, flags, -1, 0);
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int mw_sys_enter_clone3(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[0]) != 0)
		return 0;
	if (!(flags & CLONE_NEW_MASK) || !in_scope())
		return 0;
	return emit_ns_change(MW_EV_CLONE_NS, flags, -1, 1);
}
