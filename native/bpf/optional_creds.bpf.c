/* Optional hooks for nodes that have them (probed by the loader, autoload off by default):
 * commit_creds catches credential changes that bypass the syscalls above, e.g. a kernel exploit
 * overwriting creds. The tracepoint path stays complete without them. */
#include "common.h"

static __always_inline int handle_commit_creds(struct cred *new)
{
	if (!in_scope())
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u32 old_euid = BPF_CORE_READ(t, cred, euid.val);
	__u32 new_euid = BPF_CORE_READ(new, euid.val);
	if (!(old_euid != 0 && new_euid == 0))
		return 0;
	struct mw_cred_change *e = reserve(MW_EV_CRED_CHANGE, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_CRED_CHANGE, sizeof(*e));
	e->old_euid = old_euid;
	e->new_euid = new_euid;
	e->old_caps = e->h.cap_effective;
	bpf_core_read(&e->new_caps, sizeof(e->new_caps), &new->cap_effective);
	submit_now(e);
	return 0;
}

SEC("?fentry/commit_creds")
int BPF_PROG(mw_fentry_commit_creds, struct cred *new)
{
	return handle_commit_creds(new);
}

SEC("?kprobe/commit_creds")
int BPF_KPROBE(mw_kprobe_commit_creds, struct cred *new)
{
	return handle_commit_creds(new);
}
