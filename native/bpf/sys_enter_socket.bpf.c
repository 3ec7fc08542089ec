/* socket(2): packet sockets (AF_PACKET), raw layer-2 access for ARP spoofing and sniffing, and the
 * way into packet-socket kernel bugs (CVE-2020-14386). Any other family returns after one compare. */
#include "common.h"

#define MW_AF_PACKET 17

SEC("tracepoint/syscalls/sys_enter_socket")
int mw_sys_enter_socket(struct trace_event_raw_sys_enter *ctx)
{
	if ((__u32)ctx->args[0] != MW_AF_PACKET || !in_scope())
		return 0;
	struct mw_socket *e = reserve(MW_EV_SOCKET, sizeof(*e));
	if (!e)
		return 0;
	fill_current(&e->h, MW_EV_SOCKET, sizeof(*e));
	e->family = (__u32)ctx->args[0];
	e->sock_type = (__u32)ctx->args[1];
	e->protocol = (__u32)ctx->args[2];
	e->pad0 = 0;
	submit_now(e);
	return 0;
}
