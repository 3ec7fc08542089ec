/* Test workload: performs one suspicious behaviour for real, so the agent's detections are
 * exercised against the kernel. Usage: behaviours <name> [args]. Exit 0 when the behaviour was
 * carried out (the syscall was made, whatever the kernel answered). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int copy_file(const char *from, int to)
{
	int in = open(from, O_RDONLY);
	if (in < 0)
		return -1;
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(to, buf, (size_t)n) != n)
			return -1;
	close(in);
	return 0;
}

static int setuid_to_root(void)
{
	/* Become an unprivileged user first (allowed for root), then ask for root back. */
	if (setgid(65534) != 0 || setuid(65534) != 0)
		return 1;
	int r = setuid(0);
	printf("setuid(0) as 65534: %d (%s)\n", r, r ? strerror(errno) : "ok");
	return 0;
}

static int capset_raise(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return 1;
	d[0].effective &= ~(1u << CAP_SYS_ADMIN); /* drop CAP_SYS_ADMIN from the effective set */
	if (syscall(SYS_capset, &h, d) != 0)
		return 1;
	d[0].effective |= (1u << CAP_SYS_ADMIN); /* and raise it again */
	return syscall(SYS_capset, &h, d) == 0 ? 0 : 1;
}

static int ptrace_child(void)
{
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	usleep(10000);
	long r = ptrace(PTRACE_ATTACH, child, 0, 0);
	if (r == 0) {
		waitpid(child, NULL, 0);
		ptrace(PTRACE_DETACH, child, 0, 0);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return r == 0 ? 0 : 1;
}

static int memfd_exec(void)
{
	int fd = (int)syscall(SYS_memfd_create, "payload", 0);
	if (fd < 0 || copy_file("/bin/true", fd) != 0)
		return 1;
	char *argv[] = { "payload", NULL };
	char *envp[] = { NULL };
	syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
	return 1;
}

static int deleted_exec(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/dropped-%d", dir, getpid());
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0 || copy_file("/bin/true", out) != 0)
		return 1;
	close(out);
	int fd = open(path, O_RDONLY);
	unlink(path);
	char *argv[] = { "dropped", NULL };
	char *envp[] = { NULL };
	syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
	return 1;
}

static int bpf_prog_load(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insns = (unsigned long)insns;
	attr.insn_cnt = 2;
	attr.license = (unsigned long)"GPL";
	int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd >= 0)
		close(fd);
	return 0;
}

static int clone_newns(void)
{
	/* raw clone(2) with CLONE_NEWNS|CLONE_NEWUTS, as a container runtime or an escape would */
	long pid = syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return 1;
	waitpid((pid_t)pid, NULL, 0);
	return 0;
}

static int make_socket(int family, int type)
{
	int fd = socket(family, type, 0);
	printf("socket(%d, %d): %d (%s)\n", family, type, fd, fd < 0 ? strerror(errno) : "ok");
	if (fd >= 0)
		close(fd);
	return 0;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return 1;
	int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	printf("connect(%s): %d (%s)\n", path, r, r ? strerror(errno) : "ok");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	const char *b = argv[1];
	if (strcmp(b, "setuid-to-root") == 0)
		return setuid_to_root();
	if (strcmp(b, "capset-raise") == 0)
		return capset_raise();
	if (strcmp(b, "ptrace-child") == 0)
		return ptrace_child();
	if (strcmp(b, "memfd-exec") == 0)
		return memfd_exec();
	if (strcmp(b, "deleted-exec") == 0 && argc > 2)
		return deleted_exec(argv[2]);
	if (strcmp(b, "bpf-prog-load") == 0)
		return bpf_prog_load();
	if (strcmp(b, "module-load") == 0) {
		syscall(SYS_finit_module, -1, "", 0); /* EBADF, but the attempt reaches the hook */
		return 0;
	}
	if (strcmp(b, "packet-socket") == 0)
		return make_socket(AF_PACKET, SOCK_RAW);
	if (strcmp(b, "udp-socket") == 0)
		return make_socket(AF_INET, SOCK_DGRAM);
	if (strcmp(b, "connect-unix") == 0 && argc > 2)
		return connect_unix(argv[2]);
	if (strcmp(b, "clone-newns") == 0)
		return clone_newns();
	if (strcmp(b, "exec-as-nobody") == 0 && argc > 2) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			return 1;
		execv(argv[2], argv + 2);
		return 1;
	}
	fprintf(stderr, "unknown behaviour %s\n", b);
	return 2;
}
