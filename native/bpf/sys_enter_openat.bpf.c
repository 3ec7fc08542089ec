/* openat/openat2: reads of sensitive files and opens of disk and memory devices; writes to cgroup release_agent/notify_on_release, to
 * host kernel knobs (/proc/sys, /sys), below /etc and the binary directories; truncation of logs.
 * Opens are the hottest hook, so the path is matched here and nothing else reaches user space:
 * read-only opens cost one 8-byte read, only write-opens read and match the whole path. */
#include "common.h"

#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000

static __always_inline bool is_write(__u32 flags)
{
	return (flags & O_ACCMODE) != 0 || (flags & (O_CREAT | O_TRUNC)) != 0;
}

/* Write-opens only: which host or image state the write would change. */
static __always_inline __u32 classify_write(const char *path, int len, __u32 flags)
{
	if (mw_has_suffix(path, len, "release_agent", 13) || mw_has_suffix(path, len, "notify_on_release", 17))
		return MW_OPEN_CGROUP_ESCAPE;
	/* core_pattern, uevent_helper, modprobe, sysrq and friends; cgroupfs is the runtime's, and its
	 * escape path (release_agent) is matched above. */
	if (mw_has_prefix(path, "/proc/sys/", 10) || mw_has_prefix(path, "/proc/sysrq-trigger", 19) ||
	    (mw_has_prefix(path, "/sys/", 5) && !mw_has_prefix(path, "/sys/fs/cgroup/", 15)))
		return MW_OPEN_KERNEL_KNOB;
	if ((flags & O_TRUNC) && mw_has_prefix(path, "/var/log/", 9))
		return MW_OPEN_LOG_TRUNCATE;
	if (mw_has_prefix(path, "/etc/", 5) || mw_has_prefix(path, "/bin/", 5) || mw_has_prefix(path, "/sbin/", 6) ||
	    mw_has_prefix(path, "/usr/bin/", 9) || mw_has_prefix(path, "/usr/sbin/", 10) ||
	    mw_has_prefix(path, "/usr/local/bin/", 15) || mw_has_prefix(path, "/usr/local/sbin/", 16))
		return MW_OPEN_SYSTEM_WRITE;
	return 0;
}

/* Raw disks and memory: a privileged container reading or writing the host's filesystems or
 * memory underneath every permission check (Falco "Privileged Container Device Access"). */
static __always_inline bool host_device(const char *path, int len)
{
	return mw_has_prefix(path, "/dev/sd", 7) || mw_has_prefix(path, "/dev/vd", 7) || mw_has_prefix(path, "/dev/xvd", 8) ||
	       mw_has_prefix(path, "/dev/nvme", 9) || mw_has_prefix(path, "/dev/dm-", 8) ||
	       (len == 8 && mw_has_prefix(path, "/dev/mem", 8)) || (len == 9 && mw_has_prefix(path, "/dev/kmem", 9)) ||
	       (len == 9 && mw_has_prefix(path, "/dev/port", 9));
}

static __always_inline __u32 classify(const char *path, int len, __u32 flags)
{
	if (host_device(path, len))
		return MW_OPEN_HOST_DEVICE;
	if (mw_has_prefix(path, "/etc/shadow", 11) || mw_has_prefix(path, "/etc/gshadow", 12) ||
	    mw_has_prefix(path, "/etc/sudoers", 12) ||
	    mw_has_prefix(path, "/var/run/secrets/kubernetes.io/", 31) ||
	    mw_has_prefix(path, "/run/secrets/kubernetes.io/", 27))
		return MW_OPEN_SENSITIVE | (is_write(flags) ? classify_write(path, len, flags) : 0);
	if (is_write(flags))
		return classify_write(path, len, flags);
	return 0;
}

#define MW_U64(a, b, c, d, e, f, g, h)                                                             \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 |     \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)

/* Read-only opens can only matter for the sensitive and device prefixes: compare their first 8 bytes as one
 * word before reading the whole path, so the common open costs one 8-byte read. */
static __always_inline bool may_be_sensitive(const char *upath)
{
	__u64 head = 0;
	if (bpf_probe_read_user(&head, sizeof(head), upath) != 0)
		return true; /* shorter path near a page end: take the slow path */
	return head == MW_U64('/', 'e', 't', 'c', '/', 's', 'h', 'a') || head == MW_U64('/', 'e', 't', 'c', '/', 'g', 's', 'h') ||
	       head == MW_U64('/', 'e', 't', 'c', '/', 's', 'u', 'd') || head == MW_U64('/', 'v', 'a', 'r', '/', 'r', 'u', 'n') ||
	       head == MW_U64('/', 'r', 'u', 'n', '/', 's', 'e', 'c') ||
	       /* disks and memory: /dev/sd?, /dev/vd? (7 bytes), /dev/xvd, /dev/nvm, /dev/dm-, /dev/mem, /dev/kme, /dev/por */
	       (head & 0x00ffffffffffffffULL) == MW_U64('/', 'd', 'e', 'v', '/', 's', 'd', 0) ||
	       (head & 0x00ffffffffffffffULL) == MW_U64('/', 'd', 'e', 'v', '/', 'v', 'd', 0) ||
	       head == MW_U64('/', 'd', 'e', 'v', '/', 'x', 'v', 'd') || head == MW_U64('/', 'd', 'e', 'v', '/', 'n', 'v', 'm') ||
	       head == MW_U64('/', 'd', 'e', 'v', '/', 'd', 'm', '-') || head == MW_U64('/', 'd', 'e', 'v', '/', 'm', 'e', 'm') ||
	       head == MW_U64('/', 'd', 'e', 'v', '/', 'k', 'm', 'e') || head == MW_U64('/', 'd', 'e', 'v', '/', 'p', 'o', 'r');
}

static __always_inline int handle_open(const char *upath, __u32 flags)
{
	if (!in_scope())
		return 0;
	if (!is_write(flags) && !may_be_sensitive(upath))
		return 0;
	struct mw_path_buf *s = path_scratch();
	if (!s)
		return 0;
	long n = bpf_probe_read_user_str(s->path, sizeof(s->path), upath);
	if (n <= 1)
		return 0;
	int len = (int)(n - 1) & (MW_PATH_LEN - 1);
	__u32 reason = classify(s->path, len, flags);
	if (!reason)
		return 0;
	struct mw_open *e = reserve(MW_EV_OPEN, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_OPEN, sizeof(*e));
	e->open_flags = flags;
	e->reason = reason;
	bpf_probe_read_kernel_str(e->path, sizeof(e->path), s->path);
	submit(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int mw_sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return handle_open((const char *)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int mw_sys_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	return handle_open((const char *)ctx->args[1], (__u32)flags);
}
