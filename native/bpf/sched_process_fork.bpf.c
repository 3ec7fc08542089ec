/* Fork: new processes (not threads) for the process tree. */
#include "common.h"

SEC("tp_btf/sched_process_fork")
int BPF_PROG(mw_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	if (!in_scope())
		return 0;
	struct mw_fork *e = reserve(MW_EV_FORK, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, child, MW_EV_FORK, sizeof(*e));
	submit(e);
	return 0;
}
