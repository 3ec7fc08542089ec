/* symlink/symlinkat/link/linkat over sensitive files: a link to /etc/shadow, /, /etc or /root
 * from a path the workload serves or a process with other rights reads. Only links whose target
 * (or, for hardlinks, existing file) is sensitive leave the kernel; unpacking an archive full of
 * symlinks costs one path read per link. */
#include "common.h"

/* Falco's sensitive_file_names and sensitive_directory_names, plus the service-account secrets. */
static __always_inline bool sensitive_target(const char *s, int len)
{
	if ((len == 1 && s[0] == '/') || (len == 4 && mw_has_prefix(s, "/etc", 4)) || (len == 5 && mw_has_prefix(s, "/etc/", 5)) ||
	    (len == 5 && mw_has_prefix(s, "/root", 5)) || (len == 6 && mw_has_prefix(s, "/root/", 6)))
		return true;
	return mw_has_prefix(s, "/etc/shadow", 11) || mw_has_prefix(s, "/etc/gshadow", 12) || mw_has_prefix(s, "/etc/sudoers", 12) ||
	       mw_has_prefix(s, "/etc/pam.conf", 13) || mw_has_prefix(s, "/etc/pam.d", 10) ||
	       mw_has_prefix(s, "/etc/security/pwquality.conf", 28) || mw_has_prefix(s, "/root/.ssh", 10) ||
	       mw_has_prefix(s, "/var/run/secrets/kubernetes.io/", 31) || mw_has_prefix(s, "/run/secrets/kubernetes.io/", 27);
}

static __always_inline int handle_link(const char *utarget, const char *ulinkpath, __u32 hard)
{
	if (!in_scope())
		return 0;
	struct mw_path_buf *s = path_scratch();
	if (!s)
		return 0;
	long n = bpf_probe_read_user_str(s->path, sizeof(s->path), utarget);
	if (n <= 1 || !sensitive_target(s->path, (int)(n - 1)))
		return 0;
	struct mw_link *e = reserve(MW_EV_LINK, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_LINK, sizeof(*e));
	e->hard = hard;
	e->pad0 = 0;
	bpf_probe_read_kernel_str(e->target, sizeof(e->target), s->path);
	if (bpf_probe_read_user_str(e->linkpath, sizeof(e->linkpath), ulinkpath) < 0)
		e->linkpath[0] = 0;
	submit_now(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_symlink")
int mw_sys_enter_symlink(struct trace_event_raw_sys_enter *ctx)
{
	return handle_link((const char *)ctx->args[0], (const char *)ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_symlinkat")
int mw_sys_enter_symlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return handle_link((const char *)ctx->args[0], (const char *)ctx->args[2], 0);
}

SEC("tracepoint/syscalls/sys_enter_link")
int mw_sys_enter_link(struct trace_event_raw_sys_enter *ctx)
{
	return handle_link((const char *)ctx->args[0], (const char *)ctx->args[1], 1);
}

SEC("tracepoint/syscalls/sys_enter_linkat")
int mw_sys_enter_linkat(struct trace_event_raw_sys_enter *ctx)
{
	return handle_link((const char *)ctx->args[1], (const char *)ctx->args[3], 1);
}
