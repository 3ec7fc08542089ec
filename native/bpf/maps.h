/* Maps shared by every program. The loader fills config and watched_cgroups. */
#ifndef MESHWARD_MAPS_H
#define MESHWARD_MAPS_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* the loader may resize it (--ringbuf-kb) */
} mw_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_config);
} mw_config_map SEC(".maps");

/* Cgroup ids whose processes (and those of descendant cgroups) are in scope: kubepods roots
 * and individual containers. Checked against the current cgroup and its ancestors. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} mw_watched_cgroups SEC(".maps");

/* Scope verdict per cgroup, valid for one generation of the watched set: the ancestor walk
 * runs once per cgroup instead of on every syscall. */
struct scope_verdict {
	__u32 generation;
	__u32 in_scope;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct scope_verdict);
} mw_scope_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mw_stats_map SEC(".maps");

struct rate_key {
	__u64 cgroup_id;
	__u32 type;
	__u32 pad0;
};

struct rate_window {
	__u64 window_start_ns;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct rate_key);
	__type(value, struct rate_window);
} mw_rate_limits SEC(".maps");

/* Addresses whose connects are reported, with the reason (MW_CONNECT_*): the Kubernetes API
 * server (ClusterIP, endpoints) and cloud metadata services, written by the loader on the agent's
 * `kubeapi` and `metadata` commands. Every other inet connect is dropped in the kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct mw_addr_key);
	__type(value, __u8);
} mw_watched_addrs SEC(".maps");

/* One path-sized buffer per CPU for the hooks that copy a path before deciding to report it
 * (openat, connect's sun_path, link targets): too big for the BPF stack. Syscall tracepoints do
 * not nest on a CPU, so one buffer serves them all. */
struct mw_path_buf {
	char path[MW_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mw_path_buf);
} mw_path_scratch SEC(".maps");

#endif
