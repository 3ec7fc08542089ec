/* Workloads for bench/agent-overhead.ts. Moves itself into a cgroup first (so the agent treats
 * it as a container), then runs one workload and prints "<wall ns> <cpu ns>", where cpu is the
 * user + system time of the workload and its children (BPF programs run in that time).
 *   agent-workload <cgroup.procs path> exec <n>      fork + exec /bin/true, n times
 *   agent-workload <cgroup.procs path> syscalls <n>  openat + read + close of /etc/hostname, n times
 *   agent-workload <cgroup.procs path> burst <n> [per-second]  openat + close of /etc/shadow (one
 *                                                  kernel event each), paced when a rate is given
 *   agent-workload <cgroup.procs path> connect <n>   UDP connect to 127.0.0.1:9 (crosses the connect
 *                                                  hook's inet path), n times */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5)
		return 2;
	long rate = argc == 5 ? atol(argv[4]) : 0;
	FILE *f = fopen(argv[1], "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f) != 0)
		return 3;
	long n = atol(argv[3]);
	long long t0 = now_ns();
	if (strcmp(argv[2], "exec") == 0) {
		char *args[] = { "/bin/true", NULL };
		char *env[] = { NULL };
		for (long i = 0; i < n; i++) {
			pid_t p = fork();
			if (p == 0) {
				execve("/bin/true", args, env);
				_exit(127);
			}
			waitpid(p, NULL, 0);
		}
	} else if (strcmp(argv[2], "connect") == 0) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		for (long i = 0; i < n; i++)
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
				return 4;
		close(fd);
	} else if (strcmp(argv[2], "burst") == 0) {
		for (long i = 0; i < n; i++) {
			while (rate > 0 && now_ns() - t0 < i * 1000000000LL / rate)
				;
			int fd = open("/etc/shadow", O_RDONLY);
			if (fd >= 0)
				close(fd);
		}
	} else {
		char buf[256];
		for (long i = 0; i < n; i++) {
			int fd = open("/etc/hostname", O_RDONLY);
			if (fd >= 0) {
				if (read(fd, buf, sizeof(buf)) < 0)
					return 4;
				close(fd);
			}
		}
	}
	long long wall = now_ns() - t0;
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	long long cpu = 0;
	struct rusage *all[] = { &self, &kids };
	for (int i = 0; i < 2; i++)
		cpu += (all[i]->ru_utime.tv_sec + all[i]->ru_stime.tv_sec) * 1000000000LL +
		       (all[i]->ru_utime.tv_usec + all[i]->ru_stime.tv_usec) * 1000LL;
	printf("%lld %lld\n", wall, cpu);
	return 0;
}
