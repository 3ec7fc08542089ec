/* meshward-tracer: loads the meshward eBPF programs, attaches them one by one, and streams
 * ring-buffer records to stdout as frames (u32 little-endian length, then the record as laid out
 * in bpf/events.h). Commands arrive on stdin, one per line:
 *   watch <cgroup-id> | unwatch <cgroup-id> | scope all|containers | rate <events-per-second>
 *   v1 <ssid>  (use the cgroup v1 hierarchy of controller <ssid>, its row in /proc/cgroups)
 *   kubeapi <ip> <port> | metadata <ip> <port>  (connects from containers to this address are
 *                                                 reported as API-server or cloud-metadata contact)
 * When stdin closes (the agent exited or crashed) the tracer exits and the kernel detaches every
 * program with the last file descriptor: nothing is pinned, nothing outlives the agent. */
#include <linux/types.h>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "events.h"
#include "meshward.skel.h"

#define MAX_LINKS 64

static volatile sig_atomic_t stopping;
static bool verbose;
static unsigned char outbuf[1 << 16];
static size_t outlen;
static __u64 pipe_bytes;

static void on_signal(int sig) { (void)sig; stopping = 1; }

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose && level != LIBBPF_WARN)
		return 0;
	if (!verbose)
		return 0; /* probing optional programs fails by design; failures go to the hello record */
	return vfprintf(stderr, fmt, ap);
}

static void flush_out(void)
{
	size_t off = 0;
	while (off < outlen) {
		ssize_t n = write(STDOUT_FILENO, outbuf + off, outlen - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			stopping = 1; /* reader gone */
			break;
		}
		off += (size_t)n;
	}
	pipe_bytes += off;
	outlen = 0;
}

static void emit(const void *rec, __u32 len)
{
	if (outlen + 4 + len > sizeof(outbuf))
		flush_out();
	if (4 + len > sizeof(outbuf))
		return;
	memcpy(outbuf + outlen, &len, 4); /* x86/arm64 are little-endian, as the decoder expects */
	memcpy(outbuf + outlen + 4, rec, len);
	outlen += 4 + len;
}

static int on_event(void *ctx, void *data, size_t size)
{
	(void)ctx;
	emit(data, (__u32)size);
	return 0;
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[512] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strstr(buf, needle) != NULL;
}

static __u32 probe_static_features(void)
{
	__u32 f = 0;
	if (access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0)
		f |= MW_FEAT_KPROBE;
	if (file_contains("/sys/kernel/security/lsm", "bpf"))
		f |= MW_FEAT_LSM;
	return f;
}

/* libbpf attaches classic tracepoints through tracefs, which is not mounted at boot everywhere. */
static void ensure_tracefs(void)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0 || access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0 && verbose)
		fprintf(stderr, "meshward-tracer: mount tracefs: %s\n", strerror(errno));
}

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
		if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return true;
	return false;
}

static struct meshward *open_and_load(bool fentry, bool kprobe, __u32 ringbuf_bytes, const char *skip)
{
	struct meshward *skel = meshward__open();
	if (!skel)
		return NULL;
	struct bpf_program *p;
	bpf_object__for_each_program(p, skel->obj)
		if (in_list(skip, bpf_program__name(p)))
			bpf_program__set_autoload(p, false);
	bpf_map__set_max_entries(skel->maps.mw_events, ringbuf_bytes);
	bpf_program__set_autoload(skel->progs.mw_fentry_commit_creds, fentry && !in_list(skip, "mw_fentry_commit_creds"));
	bpf_program__set_autoload(skel->progs.mw_kprobe_commit_creds, kprobe && !in_list(skip, "mw_kprobe_commit_creds"));
	if (meshward__load(skel) != 0) {
		meshward__destroy(skel);
		return NULL;
	}
	return skel;
}

static void set_config(struct meshward *skel, struct mw_config *cfg)
{
	__u32 zero = 0;
	bpf_map__update_elem(skel->maps.mw_config_map, &zero, sizeof(zero), cfg, sizeof(*cfg), BPF_ANY);
}

/* "<ip> <port>" (IPv4 or IPv6) -> the kernel's API-server address key. */
static bool parse_addr(const char *ip, unsigned long port, struct mw_addr_key *k)
{
	memset(k, 0, sizeof(*k));
	if (port == 0 || port > 65535)
		return false;
	k->port = (__u16)port;
	if (inet_pton(AF_INET, ip, k->addr) == 1)
		k->family = AF_INET;
	else if (inet_pton(AF_INET6, ip, k->addr) == 1)
		k->family = AF_INET6;
	else
		return false;
	return true;
}

static void watch_addr(struct meshward *skel, const char *ip, unsigned long port, __u8 reason)
{
	struct mw_addr_key k;
	if (!parse_addr(ip, port, &k)) {
		fprintf(stderr, "meshward-tracer: not an IP address and port: %s %lu\n", ip, port);
		return;
	}
	bpf_map__update_elem(skel->maps.mw_watched_addrs, &k, sizeof(k), &reason, sizeof(reason), BPF_ANY);
}

static void handle_command(struct meshward *skel, struct mw_config *cfg, char *line)
{
	unsigned long long v;
	__u8 one = 1;
	char ip[64];
	unsigned long port;
	if (sscanf(line, "kubeapi %63s %lu", ip, &port) == 2) {
		watch_addr(skel, ip, port, MW_CONNECT_KUBE_API);
	} else if (sscanf(line, "metadata %63s %lu", ip, &port) == 2) {
		watch_addr(skel, ip, port, MW_CONNECT_METADATA);
	} else if (sscanf(line, "watch %llu", &v) == 1) {
		__u64 id = v;
		bpf_map__update_elem(skel->maps.mw_watched_cgroups, &id, sizeof(id), &one, sizeof(one), BPF_ANY);
		cfg->generation++;
		set_config(skel, cfg);
	} else if (sscanf(line, "unwatch %llu", &v) == 1) {
		__u64 id = v;
		bpf_map__delete_elem(skel->maps.mw_watched_cgroups, &id, sizeof(id), 0);
		cfg->generation++;
		set_config(skel, cfg);
	} else if (strcmp(line, "scope all") == 0) {
		cfg->scope = MW_SCOPE_ALL;
		set_config(skel, cfg);
	} else if (strcmp(line, "scope containers") == 0) {
		cfg->scope = MW_SCOPE_CONTAINERS;
		set_config(skel, cfg);
	} else if (sscanf(line, "v1 %llu", &v) == 1) {
		/* ids of this v1 controller's hierarchy from now on; watches are re-sent by the agent */
		cfg->v1_ssid_plus1 = (__u32)v + 1;
		cfg->generation++;
		set_config(skel, cfg);
	} else if (sscanf(line, "rate %llu", &v) == 1) {
		cfg->rate_per_sec = (__u32)v;
		set_config(skel, cfg);
	} else if (verbose) {
		fprintf(stderr, "meshward-tracer: unknown command: %s\n", line);
	}
}

/* Returns false on EOF: the agent is gone. */
static bool read_commands(struct meshward *skel, struct mw_config *cfg)
{
	static char buf[4096];
	static size_t len;
	ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	len += (size_t)n;
	buf[len] = 0;
	char *start = buf, *nl;
	while ((nl = strchr(start, '\n')) != NULL) {
		*nl = 0;
		handle_command(skel, cfg, start);
		start = nl + 1;
	}
	len -= (size_t)(start - buf);
	memmove(buf, start, len);
	if (len == sizeof(buf) - 1)
		len = 0; /* an over-long line is garbage; drop it */
	return true;
}

static void emit_stats(struct meshward *skel)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[512];
	struct mw_stats s = { .type = MW_REC_STATS, .size = sizeof(s) };
	if (ncpu <= 0 || ncpu > 512)
		return;
	for (__u32 i = 0; i < 3; i++) {
		if (bpf_map__lookup_elem(skel->maps.mw_stats_map, &i, sizeof(i), vals, sizeof(__u64) * ncpu, 0) != 0)
			continue;
		__u64 sum = 0;
		for (int c = 0; c < ncpu; c++)
			sum += vals[c];
		if (i == MW_STAT_EMITTED) s.emitted = sum;
		if (i == MW_STAT_DROPS) s.ringbuf_drops = sum;
		if (i == MW_STAT_THROTTLED) s.throttled = sum;
	}
	s.pipe_bytes = pipe_bytes;
	emit(&s, sizeof(s));
}

int main(int argc, char **argv)
{
	struct mw_config cfg = { .scope = MW_SCOPE_CONTAINERS, .rate_per_sec = 2000 };
	__u32 ringbuf_bytes = 16 * 1024 * 1024;
	/* Cgroups put in scope before any program attaches, so a restarted tracer has no blind window
	 * between attaching and the agent re-sending its watch list. */
	__u64 initial_watch[256];
	int ninitial = 0;
	/* Programs not to load (--skip a,b): the overhead bench compares program sets in one run. */
	const char *skip = "";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (strcmp(argv[i], "--all") == 0)
			cfg.scope = MW_SCOPE_ALL;
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			cfg.rate_per_sec = (__u32)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--ringbuf-kb") == 0 && i + 1 < argc)
			ringbuf_bytes = (__u32)strtoul(argv[++i], NULL, 10) * 1024;
		else if (strcmp(argv[i], "--v1") == 0 && i + 1 < argc)
			cfg.v1_ssid_plus1 = (__u32)strtoul(argv[++i], NULL, 10) + 1;
		else if (strcmp(argv[i], "--watch") == 0 && i + 1 < argc && ninitial < 256)
			initial_watch[ninitial++] = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc)
			skip = argv[++i];
		else {
			fprintf(stderr, "usage: meshward-tracer [-v] [--all] [--rate N] [--ringbuf-kb N] [--v1 SSID] [--watch CGROUP_ID]... [--skip PROG,...]\n");
			return 2;
		}
	}
	libbpf_set_print(libbpf_log);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ensure_tracefs();
	/* A deep pipe lets the agent fall behind briefly without the tracer blocking (and the ring
	 * buffer filling) at once. */
	fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);

	__u32 features = probe_static_features();
	/* Optional hooks are probed by loading them: fentry first, then kprobe, then tracepoints only. */
	struct meshward *skel = open_and_load(true, false, ringbuf_bytes, skip);
	if (skel) {
		features |= MW_FEAT_FENTRY;
	} else if ((features & MW_FEAT_KPROBE) && (skel = open_and_load(false, true, ringbuf_bytes, skip)) != NULL) {
		/* kprobe variant loaded */
	} else {
		skel = open_and_load(false, false, ringbuf_bytes, skip);
	}
	if (!skel) {
		fprintf(stderr, "meshward-tracer: loading the eBPF programs failed (run with -v for the verifier log)\n");
		return 1;
	}
	__u8 one = 1;
	for (int i = 0; i < ninitial; i++)
		bpf_map__update_elem(skel->maps.mw_watched_cgroups, &initial_watch[i], sizeof(initial_watch[i]), &one, sizeof(one), BPF_ANY);
	set_config(skel, &cfg);

	struct mw_hello hello = { .type = MW_REC_HELLO, .size = sizeof(hello), .abi = MW_ABI_VERSION };
	struct bpf_link *links[MAX_LINKS];
	int nlinks = 0;
	size_t dlen = 0;
	char attached[1024] = "", failed[1024] = "";
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, skel->obj) {
		if (!bpf_program__autoload(prog))
			continue;
		struct bpf_link *l = nlinks < MAX_LINKS ? bpf_program__attach(prog) : NULL;
		char *list = l ? attached : failed;
		size_t used = strlen(list);
		snprintf(list + used, sizeof(attached) - used, "%s%s", used ? "," : "", bpf_program__name(prog));
		if (l) {
			links[nlinks++] = l;
			hello.attached++;
		} else {
			hello.failed++;
		}
	}
	dlen = (size_t)snprintf(hello.detail, sizeof(hello.detail), "attached: %s; failed: %s", attached, failed);
	(void)dlen;
	hello.features = features;
	hello.boot_to_realtime_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);
	emit(&hello, sizeof(hello));
	flush_out();

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.mw_events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "meshward-tracer: ring buffer: %s\n", strerror(errno));
		stopping = 1;
	}
	struct pollfd pfds[2] = {
		{ .fd = rb ? ring_buffer__epoll_fd(rb) : -1, .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	__u64 last_stats = 0;
	while (!stopping) {
		int n = poll(pfds, 2, 50); /* events are submitted without wakeup below a threshold: poll often */
		if (n < 0 && errno != EINTR)
			break;
		ring_buffer__consume(rb);
		if (pfds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!read_commands(skel, &cfg))
				break;
		}
		__u64 now = clock_ns(CLOCK_MONOTONIC);
		if (now - last_stats >= 1000000000ULL) {
			emit_stats(skel);
			last_stats = now;
		}
		flush_out();
	}
	if (rb) {
		ring_buffer__consume(rb);
		emit_stats(skel);
		flush_out();
		ring_buffer__free(rb);
	}
	for (int i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	meshward__destroy(skel);
	return 0;
}
