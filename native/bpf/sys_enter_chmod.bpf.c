/* chmod family setting the setuid or setgid bit (Falco "Set Setuid or Setgid bit"): the step
 * before a planted setuid-root binary is run from a less privileged context. Modes without
 * S_ISUID/S_ISGID return after one compare. */
#include "common.h"

#define MW_S_ISUID 04000
#define MW_S_ISGID 02000

static __always_inline int handle_chmod(const char *upath, __s32 fd, __u32 mode)
{
	if (!(mode & (MW_S_ISUID | MW_S_ISGID)) || !in_scope())
		return 0;
	struct mw_chmod *e = reserve(MW_EV_CHMOD, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_CHMOD, sizeof(*e));
	e->mode = mode;
	e->fd = fd;
	e->path[0] = 0;
	if (upath && bpf_probe_read_user_str(e->path, sizeof(e->path), upath) < 0)
		e->path[0] = 0;
	submit_now(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_chmod")
int mw_sys_enter_chmod(struct trace_event_raw_sys_enter *ctx)
{
	return handle_chmod((const char *)ctx->args[0], -1, (__u32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_fchmod")
int mw_sys_enter_fchmod(struct trace_event_raw_sys_enter *ctx)
{
	return handle_chmod(NULL, (__s32)ctx->args[0], (__u32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_fchmodat")
int mw_sys_enter_fchmodat(struct trace_event_raw_sys_enter *ctx)
{
	return handle_chmod((const char *)ctx->args[1], -1, (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int mw_sys_enter_fchmodat2(struct trace_event_raw_sys_enter *ctx)
{
	return handle_chmod((const char *)ctx->args[1], -1, (__u32)ctx->args[2]);
}
