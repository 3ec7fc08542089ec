/* dup2/dup3 of a socket onto stdin, stdout or stderr: the reverse-shell pattern. */
#include "common.h"

#define S_IFMT 0170000
#define S_IFSOCK 0140000

static __always_inline int handle_dup(__s32 oldfd, __s32 newfd)
{
	if (newfd < 0 || newfd > 2 || oldfd < 0 || !in_scope())
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if ((__u32)oldfd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_core_read(&f, sizeof(f), &fds[oldfd & 0xffff]);
	if (!f)
		return 0;
	__u32 mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	struct mw_dup_socket *e = reserve(MW_EV_DUP_SOCKET, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_DUP_SOCKET, sizeof(*e));
	e->oldfd = oldfd;
	e->newfd = newfd;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	submit(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup2")
int mw_sys_enter_dup2(struct trace_event_raw_sys_enter *ctx)
{
	return handle_dup((__s32)ctx->args[0], (__s32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int mw_sys_enter_dup3(struct trace_event_raw_sys_enter *ctx)
{
	return handle_dup((__s32)ctx->args[0], (__s32)ctx->args[1]);
}
