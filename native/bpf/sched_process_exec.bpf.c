/* Exec: binary, argv, tty, exe properties (setuid bit, memfd, deleted, /dev/shm, inode change
 * time for drift) for the process tree, the exec audit and the suspicious-exec detections. */
#include "common.h"

#define S_ISUID 04000
#define S_ISGID 02000

/* inode ctime: a timespec64 __i_ctime from 6.6, split into i_ctime_sec/i_ctime_nsec from 6.11. */
struct inode___pre611 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

static __always_inline __u64 inode_ctime_ns(struct inode *inode)
{
	if (bpf_core_field_exists(inode->i_ctime_sec))
		return (__u64)BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ULL + BPF_CORE_READ(inode, i_ctime_nsec);
	struct inode___pre611 *old = (void *)inode;
	if (bpf_core_field_exists(old->__i_ctime))
		return (__u64)BPF_CORE_READ(old, __i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(old, __i_ctime.tv_nsec);
	return 0;
}

static __always_inline bool dentry_named_dev(struct dentry *d)
{
	char n[4] = {};
	bpf_probe_read_kernel_str(n, sizeof(n), BPF_CORE_READ(d, d_name.name));
	return n[0] == 'd' && n[1] == 'e' && n[2] == 'v' && n[3] == 0;
}

/* Where mount *m is mounted: its mountpoint dentry, looking through mounts stacked on the same
 * directory (their mountpoint is the root of the mount below). *m becomes the mount that holds
 * the returned dentry. */
static __always_inline struct dentry *mountpoint_of(struct mount **m)
{
	struct dentry *mp = NULL;
	for (int i = 0; i < 4; i++) {
		mp = BPF_CORE_READ(*m, mnt_mountpoint);
		*m = BPF_CORE_READ(*m, mnt_parent);
		if (BPF_CORE_READ(mp, d_parent) != mp)
			return mp;
	}
	return mp;
}

/* Is the file on the mount at <anything>/dev/shm? Read from the mount, not the path the caller
 * gave, so `cd /dev/shm && ./x` and symlinks are caught as well. /dev is usually a mount of its
 * own (devtmpfs on hosts, tmpfs in containers): then "dev" is the parent mount's mountpoint. */
static __always_inline bool on_dev_shm(struct file *file)
{
	struct vfsmount *vfs = BPF_CORE_READ(file, f_path.mnt);
	struct mount *m = (void *)vfs - bpf_core_field_offset(struct mount, mnt);
	struct dentry *mp = mountpoint_of(&m);
	char n[4] = {};
	bpf_probe_read_kernel_str(n, sizeof(n), BPF_CORE_READ(mp, d_name.name));
	if (n[0] != 's' || n[1] != 'h' || n[2] != 'm' || n[3] != 0)
		return false;
	struct dentry *parent = BPF_CORE_READ(mp, d_parent);
	if (BPF_CORE_READ(parent, d_parent) != parent) /* /dev is a directory of the same mount */
		return dentry_named_dev(parent);
	return dentry_named_dev(mountpoint_of(&m));
}

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
	if (on_dev_shm(file))
		e->flags |= MW_EXEC_DEV_SHM;
	e->exe_ctime_ns = inode_ctime_ns(inode);

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
