/* bpf(BPF_PROG_LOAD) from a container. */
#include "common.h"

#define MW_BPF_PROG_LOAD 5

SEC("tracepoint/syscalls/sys_enter_bpf")
int mw_sys_enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[0] != MW_BPF_PROG_LOAD || !in_scope())
		return 0;
	__u32 prog_type = 0;
	bpf_probe_read_user(&prog_type, sizeof(prog_type), (void *)ctx->args[1]);
	struct mw_bpf *e = reserve(MW_EV_BPF, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_BPF, sizeof(*e));
	e->cmd = MW_BPF_PROG_LOAD;
	e->prog_type = prog_type;
	submit_now(e);
	return 0;
}
