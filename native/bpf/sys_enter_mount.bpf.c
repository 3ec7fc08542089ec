/* mount(2): any mount from a container, cgroup filesystems in particular (release_agent escape). */
#include "common.h"

SEC("tracepoint/syscalls/sys_enter_mount")
int mw_sys_enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	if (!in_scope())
		return 0;
	struct mw_mount *e = reserve(MW_EV_MOUNT, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_MOUNT, sizeof(*e));
	e->flags = ctx->args[3];
	if (bpf_probe_read_user_str(e->source, sizeof(e->source), (void *)ctx->args[0]) < 0)
		e->source[0] = 0;
	if (bpf_probe_read_user_str(e->target, sizeof(e->target), (void *)ctx->args[1]) < 0)
		e->target[0] = 0;
	if (bpf_probe_read_user_str(e->fstype, sizeof(e->fstype), (void *)ctx->args[2]) < 0)
		e->fstype[0] = 0;
	submit_now(e);
	return 0;
}
