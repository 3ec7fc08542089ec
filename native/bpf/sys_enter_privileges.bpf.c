/* Privilege changes: setuid/setreuid/setresuid to 0 from non-root, capset. */
#include "common.h"

static __always_inline int emit_setuid(__u32 syscall, __u32 a, __u32 b, __u32 c)
{
	/* Only a non-root caller asking for uid 0 is interesting; root dropping privileges is not. */
	__u64 uid_gid = bpf_get_current_uid_gid();
	if ((__u32)uid_gid == 0 || (a != 0 && b != 0 && c != 0))
		return 0;
	if (!in_scope())
		return 0;
	struct mw_setuid *e = reserve(MW_EV_SETUID, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_SETUID, sizeof(*e));
	e->syscall = syscall;
	e->target[0] = a;
	e->target[1] = b;
	e->target[2] = c;
	submit_now(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setuid")
int mw_sys_enter_setuid(struct trace_event_raw_sys_enter *ctx)
{
	return emit_setuid(0, (__u32)ctx->args[0], 0xffffffff, 0xffffffff);
}

SEC("tracepoint/syscalls/sys_enter_setreuid")
int mw_sys_enter_setreuid(struct trace_event_raw_sys_enter *ctx)
{
	return emit_setuid(1, (__u32)ctx->args[0], (__u32)ctx->args[1], 0xffffffff);
}

SEC("tracepoint/syscalls/sys_enter_setresuid")
int mw_sys_enter_setresuid(struct trace_event_raw_sys_enter *ctx)
{
	return emit_setuid(2, (__u32)ctx->args[0], (__u32)ctx->args[1], (__u32)ctx->args[2]);
}

struct user_cap_data {
	__u32 effective;
	__u32 permitted;
	__u32 inheritable;
};

SEC("tracepoint/syscalls/sys_enter_capset")
int mw_sys_enter_capset(struct trace_event_raw_sys_enter *ctx)
{
	if (!in_scope())
		return 0;
	struct user_cap_data d[2] = {};
	if (bpf_probe_read_user(&d, sizeof(d), (void *)ctx->args[1]) != 0)
		return 0;
	struct mw_capset *e = reserve(MW_EV_CAPSET, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_CAPSET, sizeof(*e));
	e->effective = ((__u64)d[1].effective << 32) | d[0].effective;
	e->permitted = ((__u64)d[1].permitted << 32) | d[0].permitted;
	e->inheritable = ((__u64)d[1].inheritable << 32) | d[0].inheritable;
	submit_now(e);
	return 0;
}
