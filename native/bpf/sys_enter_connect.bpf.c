/* connect(2) to a container runtime's API socket (docker.sock and friends: full control of the
 * node), to the Kubernetes API server or to a cloud metadata service (addresses the agent
 * configures). Every other connect returns after one read of the address head, and for inet one
 * hash lookup. */
#include "common.h"

#define MW_AF_UNIX 1
#define MW_AF_INET 2
#define MW_AF_INET6 10
#define SUN_PATH_LEN 108

/* containerd (and its ttrpc socket), dockerd, cri-dockerd, dockershim, CRI-O, podman. */
static __always_inline bool runtime_socket(const char *s, int len)
{
	return mw_has_suffix(s, len, "/containerd.sock", 16) || mw_has_suffix(s, len, "/containerd.sock.ttrpc", 22) ||
	       mw_has_suffix(s, len, "/docker.sock", 12) || mw_has_suffix(s, len, "/dockershim.sock", 16) ||
	       mw_has_suffix(s, len, "/cri-dockerd.sock", 17) || mw_has_suffix(s, len, "/crio.sock", 10) ||
	       mw_has_suffix(s, len, "/podman.sock", 12);
}

/* The head of a sockaddr_in or sockaddr_in6, read in one go: the hook runs on every connect. */
struct sockaddr_head {
	__u16 family;
	__be16 port;
	__u8 in4[4];       /* sockaddr_in: address; sockaddr_in6: flowinfo */
	__u8 in6[16];      /* sockaddr_in6: address */
};

SEC("tracepoint/syscalls/sys_enter_connect")
int mw_sys_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	const void *uaddr = (const void *)ctx->args[1];
	__u32 addrlen = (__u32)ctx->args[2];
	struct sockaddr_head head = {};
	__u32 size = addrlen < sizeof(head) ? addrlen : sizeof(head);
	barrier_var(size);
	size &= 31;
	if (size < sizeof(head.family) || bpf_probe_read_user(&head, size, uaddr) != 0)
		return 0;
	__u16 family = head.family;
	struct mw_addr_key key = { .family = family };
	__u32 reason = 0;
	struct mw_path_buf *s = NULL;
	int len = 0;
	if (family == MW_AF_INET || family == MW_AF_INET6) {
		key.port = __builtin_bswap16(head.port);
		if (family == MW_AF_INET)
			__builtin_memcpy(key.addr, head.in4, 4);
		else
			__builtin_memcpy(key.addr, head.in6, 16);
		__u8 *why = bpf_map_lookup_elem(&mw_watched_addrs, &key);
		if (!why)
			return 0;
		reason = *why;
	} else if (family == MW_AF_UNIX) {
		if (addrlen <= 3) /* unnamed, or an abstract name (sun_path[0] == 0) */
			return 0;
		s = path_scratch();
		if (!s)
			return 0;
		__u32 max = addrlen - 2;
		if (max > SUN_PATH_LEN)
			max = SUN_PATH_LEN;
		__u32 size = max + 1; /* sun_path need not be NUL-terminated: never read past addrlen */
		barrier_var(size);
		size &= 127;
		long n = bpf_probe_read_user_str(s->path, size, uaddr + 2);
		if (n <= 1)
			return 0;
		len = (int)(n - 1) & 127;
		if (!runtime_socket(s->path, len))
			return 0;
		reason = MW_CONNECT_RUNTIME_SOCKET;
	} else {
		return 0;
	}
	if (!in_scope())
		return 0;
	struct mw_connect *e = reserve(MW_EV_CONNECT, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_CONNECT, sizeof(*e));
	e->reason = reason;
	e->family = family;
	e->port = key.port;
	__builtin_memcpy(e->addr, key.addr, sizeof(e->addr));
	e->path[0] = 0;
	if (s)
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), s->path);
	submit_now(e);
	return 0;
}
