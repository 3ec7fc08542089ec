/* Exec: binary, argv, tty, exe properties (setuid bit, memfd, deleted) for the process tree,
 * the exec audit and the suspicious-exec detections. */
#include "common.h"

#define S_ISUID 04000
#define S_ISGID 02000

SEC("tp_btf/sched_process_exec")
int BPF_PROG(mw_sched_process_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (!in_scope())
		return 0;
	struct mw_exec *e = reserve(MW_EV_EXEC, sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, p, MW_EV_EXEC, sizeof(*e));
	e->flags = 0;
	e->pad0 = 0;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));

	struct file *file = BPF_CORE_READ(bprm, file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	e->exe_mode = BPF_CORE_READ(inode, i_mode);
	e->exe_uid = BPF_CORE_READ(inode, i_uid.val);
	e->exe_nlink = BPF_CORE_READ(inode, __i_nlink);
	if (e->exe_mode & S_ISUID)
		e->flags |= MW_EXEC_SETUID_BIN;
	if (e->exe_mode & S_ISGID)
		e->flags |= MW_EXEC_SETGID_BIN;
	char name[8] = {};
	bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name));
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' && name[5] == ':')
		e->flags |= MW_EXEC_MEMFD;
	else if (e->exe_nlink == 0)
		e->flags |= MW_EXEC_DELETED;
	if (e->h.euid == 0 && e->h.uid != 0)
		e->flags |= MW_EXEC_CRED_ELEVATED;

	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u64 len = end - start;
	if (len > MW_ARGS_LEN - 1)
		len = MW_ARGS_LEN - 1;
	len &= MW_ARGS_LEN - 1;
	if (bpf_probe_read_user(e->args, len, (void *)start) != 0)
		len = 0;
	e->args[len & (MW_ARGS_LEN - 1)] = 0;
	e->args_len = len;
	submit(e);
	return 0;
}
