/* Helpers shared by every hook: scope filter, rate limit, header fill, emit. */
#ifndef MESHWARD_COMMON_H
#define MESHWARD_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "maps.h"

#define MW_MAX_CGROUP_DEPTH 10
#define CLONE_NEW_MASK 0x7E020080ULL /* NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME */

char LICENSE[] SEC("license") = "GPL";

/* Bounded string compares for paths already copied into BPF memory (buffers of at most 256). */
static __always_inline bool mw_has_prefix(const char *s, const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] != p[i])
			return false;
	return true;
}

static __always_inline bool mw_has_suffix(const char *s, int len, const char *p, int n)
{
	if (len < n)
		return false;
	for (int i = 0; i < n; i++)
		if (s[(len - n + i) & (MW_PATH_LEN - 1)] != p[i])
			return false;
	return true;
}

static __always_inline struct mw_path_buf *path_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&mw_path_scratch, &zero);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&mw_stats_map, &idx);
	if (v)
		*v += 1;
}

/* kernfs_node.parent was renamed __parent in 6.15; CO-RE picks whichever this kernel has. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

static __always_inline struct mw_config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&mw_config_map, &zero);
}

/* The kernfs node of a task's cgroup: on the v2 hierarchy, or on one v1 controller's hierarchy
 * for nodes whose kubelet still runs on cgroup v1. */
static __always_inline struct kernfs_node *task_cgroup_kn(struct task_struct *t, struct mw_config *cfg)
{
	if (cfg && cfg->v1_ssid_plus1) {
		__u32 ssid = (cfg->v1_ssid_plus1 - 1) & 15; /* outside the CO-RE read: mw_config is not kernel BTF */
		struct css_set *cs = BPF_CORE_READ(t, cgroups);
		struct cgroup_subsys_state *css = NULL;
		bpf_core_read(&css, sizeof(css), &cs->subsys[ssid]);
		return BPF_CORE_READ(css, cgroup, kn);
	}
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
}

static __always_inline __u64 current_cgroup_id(struct mw_config *cfg)
{
	if (cfg && cfg->v1_ssid_plus1)
		return BPF_CORE_READ(task_cgroup_kn((struct task_struct *)bpf_get_current_task(), cfg), id);
	return bpf_get_current_cgroup_id();
}

/* Is the current cgroup, or one of its ancestors, watched? Walks kernfs parents rather than
 * calling bpf_get_current_ancestor_cgroup_id, which tracing programs only got in 6.4, and
 * which knows nothing of v1 hierarchies. */
static __always_inline bool cgroup_watched(struct mw_config *cfg)
{
	struct kernfs_node *kn = task_cgroup_kn((struct task_struct *)bpf_get_current_task(), cfg);
	for (int i = 0; i < MW_MAX_CGROUP_DEPTH && kn; i++) {
		__u64 id = BPF_CORE_READ(kn, id);
		if (bpf_map_lookup_elem(&mw_watched_cgroups, &id))
			return true;
		kn = kn_parent(kn);
	}
	return false;
}

/* Only container processes by default: the current cgroup or one of its ancestors is watched.
 * This runs first in every hook; the verdict is cached per cgroup, so the host pays one cgroup
 * id read and one map lookup per hooked syscall. */
static __always_inline bool in_scope(void)
{
	struct mw_config *cfg = get_config();
	if (!cfg)
		return false;
	if (cfg->scope == MW_SCOPE_ALL)
		return true;
	__u64 cg = current_cgroup_id(cfg);
	struct scope_verdict *cached = bpf_map_lookup_elem(&mw_scope_cache, &cg);
	if (cached && cached->generation == cfg->generation)
		return cached->in_scope;
	struct scope_verdict v = { .generation = cfg->generation, .in_scope = cgroup_watched(cfg) };
	bpf_map_update_elem(&mw_scope_cache, &cg, &v, BPF_ANY);
	return v.in_scope;
}

/* Fixed-window rate limit per cgroup and event type, so one noisy container cannot flood the
 * ring buffer and hide the others. */
static __always_inline bool rate_allow(__u32 type)
{
	struct mw_config *cfg = get_config();
	if (!cfg || cfg->rate_per_sec == 0)
		return true;
	struct rate_key key = { .cgroup_id = current_cgroup_id(cfg), .type = type };
	__u64 now = bpf_ktime_get_ns();
	struct rate_window *w = bpf_map_lookup_elem(&mw_rate_limits, &key);
	if (!w) {
		struct rate_window init = { .window_start_ns = now, .count = 1 };
		bpf_map_update_elem(&mw_rate_limits, &key, &init, BPF_ANY);
		return true;
	}
	if (now - w->window_start_ns > 1000000000ULL) {
		w->window_start_ns = now;
		w->count = 1;
		return true;
	}
	if (w->count >= cfg->rate_per_sec) {
		stat_inc(MW_STAT_THROTTLED);
		return false;
	}
	w->count += 1;
	return true;
}

static __always_inline void *reserve(__u32 type, __u32 size)
{
	if (!rate_allow(type))
		return NULL;
	void *e = bpf_ringbuf_reserve(&mw_events, size, 0);
	if (!e)
		stat_inc(MW_STAT_DROPS);
	return e;
}

/* Waking the tracer for every event costs the workload an IPI and a context switch per event;
 * it is woken once this much is waiting, and otherwise finds events on its 50 ms poll. */
#define MW_WAKEUP_BYTES (256 * 1024)

static __always_inline void submit(void *e)
{
	stat_inc(MW_STAT_EMITTED);
	__u64 flags = bpf_ringbuf_query(&mw_events, BPF_RB_AVAIL_DATA) >= MW_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/* For the rare syscalls a detection is made of (setns, unshare, mount, ptrace, module and bpf()
 * loads, setuid/capset): wake the tracer at once. The risk stage quarantines from these, and its
 * latency budget (syscall to the last proxy's ACK) cannot spend up to a 50 ms poll here; none of
 * them is on the exec/fork/open hot path the threshold above protects. */
static __always_inline void submit_now(void *e)
{
	stat_inc(MW_STAT_EMITTED);
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

static __always_inline __u32 task_tty(struct task_struct *t)
{
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	if (!tty)
		return 0;
	__u32 major = BPF_CORE_READ(tty, driver, major);
	__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (major << 20) | (minor & 0xfffff);
}

static __always_inline void fill_header(struct mw_header *h, struct task_struct *t, __u32 type, __u32 size)
{
	h->type = type;
	h->size = size;
	h->tgid = BPF_CORE_READ(t, tgid);
	h->tid = BPF_CORE_READ(t, pid);
	h->ktime_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = BPF_CORE_READ(task_cgroup_kn(t, get_config()), id);
	h->start_ns = BPF_CORE_READ(t, group_leader, start_time);
	h->ptgid = BPF_CORE_READ(t, real_parent, tgid);
	h->parent_start_ns = BPF_CORE_READ(t, real_parent, group_leader, start_time);
	const struct cred *cred = BPF_CORE_READ(t, cred);
	h->uid = BPF_CORE_READ(cred, uid.val);
	h->euid = BPF_CORE_READ(cred, euid.val);
	h->gid = BPF_CORE_READ(cred, gid.val);
	/* kernel_cap_t is a u64 since 6.3 and two u32s before: both read as one little-endian u64. */
	bpf_core_read(&h->cap_effective, sizeof(h->cap_effective), &cred->cap_effective);
	h->tty = task_tty(t);
	struct nsproxy *ns = BPF_CORE_READ(t, nsproxy);
	h->mnt_ns = BPF_CORE_READ(ns, mnt_ns, ns.inum);
	h->net_ns = BPF_CORE_READ(ns, net_ns, ns.inum);
	h->uts_ns = BPF_CORE_READ(ns, uts_ns, ns.inum);
	h->ipc_ns = BPF_CORE_READ(ns, ipc_ns, ns.inum);
	h->cgroup_ns = BPF_CORE_READ(ns, cgroup_ns, ns.inum);
	h->user_ns = BPF_CORE_READ(cred, user_ns, ns.inum);
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	bpf_core_read(&up, sizeof(up), (void *)&pid->numbers[0] + (level & 31) * bpf_core_type_size(struct upid));
	h->pid_ns = BPF_CORE_READ(up.ns, ns.inum);
	h->pad0 = 0;
	BPF_CORE_READ_STR_INTO(&h->comm, t, comm);
}

static __always_inline void fill_current(struct mw_header *h, __u32 type, __u32 size)
{
	fill_header(h, (struct task_struct *)bpf_get_current_task(), type, size);
}

#endif
