/* Exit of a process (its thread-group leader) so user space can prune the process tree. */
#include "common.h"

SEC("tp_btf/sched_process_exit")
int BPF_PROG(mw_sched_process_exit, struct task_struct *p)
{
	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;
	if (!in_scope())
		return 0;
	struct mw_exit *e = reserve(MW_EV_EXIT, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, p, MW_EV_EXIT, sizeof(*e));
	e->exit_code = BPF_CORE_READ(p, exit_code);
	e->pad0 = 0;
	submit(e);
	return 0;
}
