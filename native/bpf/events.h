/* Event layout shared by the eBPF programs and the loader. The TypeScript decoder
 * (src/agent/native/event-layout.ts) mirrors this file and nothing else does: change both
 * together and bump MW_ABI_VERSION. Every field is naturally aligned and little-endian so the
 * decoder can read fixed offsets. */
#ifndef MESHWARD_EVENTS_H
#define MESHWARD_EVENTS_H

#define MW_ABI_VERSION 2

#define MW_COMM_LEN 16
#define MW_PATH_LEN 256
#define MW_ARGS_LEN 1024
#define MW_MOUNT_STR_LEN 128

enum mw_event_type {
	MW_EV_EXEC = 1,
	MW_EV_FORK = 2,
	MW_EV_EXIT = 3,
	MW_EV_SETNS = 4,
	MW_EV_UNSHARE = 5,
	MW_EV_CLONE_NS = 6,
	MW_EV_SETUID = 7,
	MW_EV_CAPSET = 8,
	MW_EV_MOUNT = 9,
	MW_EV_OPEN = 10,
	MW_EV_PTRACE = 11,
	MW_EV_MODULE = 12,
	MW_EV_BPF = 13,
	MW_EV_DUP_SOCKET = 14,
	MW_EV_CRED_CHANGE = 15,
	MW_EV_SOCKET = 16,
	MW_EV_CONNECT = 17,
	MW_EV_LINK = 18,
	MW_EV_CHMOD = 19,
	/* Records written by the loader itself, never by a BPF program. */
	MW_REC_HELLO = 100,
	MW_REC_STATS = 101,
};

/* Exec flags. */
#define MW_EXEC_SETUID_BIN (1u << 0)
#define MW_EXEC_SETGID_BIN (1u << 1)
#define MW_EXEC_MEMFD (1u << 2)
#define MW_EXEC_DELETED (1u << 3)
#define MW_EXEC_CRED_ELEVATED (1u << 4) /* euid 0 while the real uid is not */
#define MW_EXEC_DEV_SHM (1u << 5)       /* the binary lives on the mount at /dev/shm */

/* Open flags seen by the kernel filter (why the open was reported). */
#define MW_OPEN_SENSITIVE (1u << 0)
#define MW_OPEN_CGROUP_ESCAPE (1u << 1)
#define MW_OPEN_KERNEL_KNOB (1u << 2)    /* write-open below /proc/sys, /sys (not /sys/fs/cgroup), /proc/sysrq-trigger */
#define MW_OPEN_SYSTEM_WRITE (1u << 3)   /* write-open or create below /etc or a binary/library directory */
#define MW_OPEN_LOG_TRUNCATE (1u << 4)   /* O_TRUNC write-open below /var/log */
#define MW_OPEN_HOST_DEVICE (1u << 5)    /* any open of a disk or memory device (/dev/sd*, nvme*, mem, kmem, port) */

/* Who did it: the same 120-byte header starts every kernel event. */
struct mw_header {
	__u16 type;
	__u16 size;
	__u32 tgid;
	__u64 ktime_ns;        /* CLOCK_BOOTTIME */
	__u64 cgroup_id;       /* cgroup id (= inode of the cgroup directory; v2, or the v1 controller's) */
	__u64 start_ns;        /* group leader start time: with tgid, an exec id that survives pid reuse */
	__u64 parent_start_ns;
	__u32 tid;
	__u32 ptgid;
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 tty;             /* (major << 20) | minor, 0 = no controlling terminal */
	__u64 cap_effective;
	__u32 mnt_ns;
	__u32 pid_ns;
	__u32 net_ns;
	__u32 user_ns;
	__u32 uts_ns;
	__u32 ipc_ns;
	__u32 cgroup_ns;
	__u32 pad0;
	char comm[MW_COMM_LEN];
};

struct mw_exec {
	struct mw_header h;
	__u32 flags;
	__u32 args_len;        /* bytes of NUL-separated argv in args */
	__u32 exe_mode;
	__u32 exe_uid;
	__u32 exe_nlink;
	__u32 pad0;
	__u64 exe_ctime_ns;    /* inode change time (CLOCK_REALTIME ns): set by create, write, chmod, link */
	char filename[MW_PATH_LEN];
	char args[MW_ARGS_LEN];
};

struct mw_fork {
	struct mw_header h;    /* describes the child */
};

struct mw_exit {
	struct mw_header h;
	__u32 exit_code;
	__u32 pad0;
};

/* setns, unshare, clone: one shape, the type says which. */
struct mw_namespace_change {
	struct mw_header h;
	__u64 flags;           /* CLONE_NEW* (setns: nstype) */
	__s32 fd;              /* setns only */
	__u32 syscall;         /* 0 clone, 1 clone3 (MW_EV_CLONE_NS only) */
};

struct mw_setuid {
	struct mw_header h;
	__u32 syscall;         /* 0 setuid, 1 setreuid, 2 setresuid */
	__u32 target[3];       /* requested ids, 0xffffffff = unchanged */
};

struct mw_capset {
	struct mw_header h;
	__u64 effective;
	__u64 permitted;
	__u64 inheritable;
};

struct mw_mount {
	struct mw_header h;
	__u64 flags;
	char source[MW_MOUNT_STR_LEN];
	char target[MW_MOUNT_STR_LEN];
	char fstype[32];
};

struct mw_open {
	struct mw_header h;
	__u32 open_flags;
	__u32 reason;          /* MW_OPEN_* */
	char path[MW_PATH_LEN];
};

struct mw_ptrace {
	struct mw_header h;
	__s64 request;
	__s32 target_pid;
	__u32 pad0;
};

struct mw_module {
	struct mw_header h;
	__u32 syscall;         /* 0 init_module, 1 finit_module */
	__s32 fd;
};

struct mw_bpf {
	struct mw_header h;
	__u32 cmd;
	__u32 prog_type;
};

struct mw_dup_socket {
	struct mw_header h;
	__s32 oldfd;
	__s32 newfd;
	__u16 family;
	__u16 dport;           /* host byte order */
	__u32 daddr;           /* IPv4, network byte order as in the kernel */
};

struct mw_cred_change {
	struct mw_header h;
	__u32 old_euid;
	__u32 new_euid;
	__u64 old_caps;
	__u64 new_caps;
};

/* socket(2) of a family a workload has no business with (AF_PACKET). */
struct mw_socket {
	struct mw_header h;
	__u32 family;
	__u32 sock_type;
	__u32 protocol;
	__u32 pad0;
};

/* Why a connect(2) was reported. */
#define MW_CONNECT_RUNTIME_SOCKET 1 /* a container runtime's API socket (containerd, docker, cri-o, podman) */
#define MW_CONNECT_KUBE_API 2       /* an address the agent was told is the Kubernetes API server */
#define MW_CONNECT_METADATA 3       /* a cloud instance-metadata address (169.254.169.254 and friends) */

struct mw_connect {
	struct mw_header h;
	__u32 reason;          /* MW_CONNECT_* */
	__u16 family;
	__u16 port;            /* host byte order */
	__u8 addr[16];         /* IPv4 in the first 4 bytes, or IPv6; network byte order */
	char path[112];        /* AF_UNIX sun_path */
};

/* symlink/symlinkat/link/linkat whose target (symlink) or existing file (hardlink) is sensitive. */
struct mw_link {
	struct mw_header h;
	__u32 hard;            /* 0 symlink, 1 hardlink */
	__u32 pad0;
	char target[MW_PATH_LEN];   /* symlink target, or the hardlink's existing path */
	char linkpath[MW_PATH_LEN]; /* the new name */
};

/* chmod/fchmod/fchmodat/fchmodat2 setting the setuid or setgid bit. */
struct mw_chmod {
	struct mw_header h;
	__u32 mode;
	__s32 fd;              /* fchmod only, else -1 */
	char path[MW_PATH_LEN]; /* as given; empty for fchmod */
};

/* Addresses whose connects are reported (the agent configures them): the API server, metadata. */
struct mw_addr_key {
	__u16 family;
	__u16 port;            /* host byte order */
	__u8 addr[16];
};

/* Loader records (user space only). */
struct mw_hello {
	__u16 type;
	__u16 size;
	__u32 abi;
	__u64 boot_to_realtime_ns;  /* add to ktime_ns for wall-clock nanoseconds */
	__u32 features;             /* MW_FEAT_* probed on this node */
	__u32 attached;
	__u32 failed;
	__u32 pad0;
	char detail[2048];          /* "attached: a,b,...; failed: c" */
};

#define MW_FEAT_KPROBE (1u << 0)
#define MW_FEAT_FENTRY (1u << 1)
#define MW_FEAT_LSM (1u << 2)

struct mw_stats {
	__u16 type;
	__u16 size;
	__u32 pad0;
	__u64 emitted;
	__u64 ringbuf_drops;
	__u64 throttled;
	__u64 pipe_bytes;
};

/* Indices of the per-CPU stats array. */
enum mw_stat { MW_STAT_EMITTED = 0, MW_STAT_DROPS = 1, MW_STAT_THROTTLED = 2, MW_STAT_MAX = 4 };

/* Runtime configuration, written by the loader into the config array. */
#define MW_SCOPE_CONTAINERS 0
#define MW_SCOPE_ALL 1
struct mw_config {
	__u32 scope;
	__u32 rate_per_sec;    /* per cgroup and event type; 0 = unlimited */
	__u32 generation;      /* bumped when the watched set changes: invalidates the scope cache */
	__u32 v1_ssid_plus1;   /* 0: cgroup v2 ids; else 1 + the v1 controller whose hierarchy is used */
};

#endif
