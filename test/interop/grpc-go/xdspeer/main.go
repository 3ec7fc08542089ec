// xdspeer is a test peer built on grpc-go's xDS implementation, so meshward is checked against a
// second real xDS client besides @grpc/grpc-js-xds. It is test tooling only (the product is
// TypeScript). Every result is one JSON object per stdout line, so a test can assert on it; grpc-go's
// own logs go to stderr.
//
//	xdspeer client --target xds:///svc [--calls N] [--xds-creds] [--header name=value ...]
//	    Dials the target and makes N unary grpc.testing.TestService/UnaryCall calls (one "call" line
//	    each, then "done"). With --calls 0 it reads commands from stdin instead and stays connected,
//	    so a test can change the mesh and call again without a restart:
//	        call N [deadline-ms]    N calls, then a "done" line
//	        quit
//	xdspeer server --addr IP:PORT --id NAME [--xds] [--xds-creds]
//	    Serves TestService; --xds makes it an xDS-enabled server (xds.NewGRPCServer) that reports each
//	    serving-mode change. Port 0 picks a free port; the "listening" line gives the real address.
//
// The bootstrap comes from GRPC_XDS_BOOTSTRAP (a file) or GRPC_XDS_BOOTSTRAP_CONFIG (the JSON), as
// grpc-go reads them. In grpc-go v1.85 RBAC (A41) needs no environment flag; it is always on.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

// out serializes JSON lines: callbacks from grpc-go run on their own goroutines.
var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(v map[string]any) {
	out.Lock()
	defer out.Unlock()
	if err := out.enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "xdspeer: writing stdout:", err)
		os.Exit(2)
	}
}

func fatal(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	emit(map[string]any{"event": "fatal", "error": msg})
	fmt.Fprintln(os.Stderr, "xdspeer:", msg)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fatal("usage: xdspeer client|server [flags]")
	}
	switch os.Args[1] {
	case "client":
		runClient(os.Args[2:])
	case "server":
		runServer(os.Args[2:])
	default:
		fatal("unknown mode %q (want client or server)", os.Args[1])
	}
}

// transportCreds returns xDS credentials (TLS as the control plane configures it, plaintext when it
// configures none) or plain insecure credentials.
func transportCreds(xdsCreds bool, server bool) credentials.TransportCredentials {
	if !xdsCreds {
		return insecure.NewCredentials()
	}
	var c credentials.TransportCredentials
	var err error
	if server {
		c, err = xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	} else {
		c, err = xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	}
	if err != nil {
		fatal("xds credentials: %v", err)
	}
	return c
}

// identity describes the TLS peer of a connection: "" when plaintext, else its SPIFFE/URI SANs
// (or the subject CN when it has none).
func identity(p *peer.Peer) (tls bool, id string) {
	if p == nil || p.AuthInfo == nil {
		return false, ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return false, ""
	}
	certs := info.State.PeerCertificates
	if len(certs) == 0 {
		return true, ""
	}
	return true, certName(certs[0])
}

func certName(c *x509.Certificate) string {
	if len(c.URIs) > 0 {
		uris := make([]string, len(c.URIs))
		for i, u := range c.URIs {
			uris[i] = u.String()
		}
		return strings.Join(uris, ",")
	}
	return c.Subject.CommonName
}

func runClient(args []string) {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	target := fs.String("target", "", "xds:///name to dial")
	calls := fs.Int("calls", 1, "calls to make, then exit; 0 reads commands from stdin")
	deadline := fs.Duration("deadline", 20*time.Second, "per-call deadline (calls wait for the channel to be ready)")
	useXdsCreds := fs.Bool("xds-creds", false, "use xDS transport credentials (TLS from the control plane)")
	var headers headerFlag
	fs.Var(&headers, "header", "name=value request metadata sent with every call (repeatable)")
	_ = fs.Parse(args)
	if *target == "" {
		fatal("client: --target is required")
	}
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(transportCreds(*useXdsCreds, false)))
	if err != nil {
		fatal("client: dial %s: %v", *target, err)
	}
	defer conn.Close()
	stub := testgrpc.NewTestServiceClient(conn)
	seq := 0
	batch := func(n int, d time.Duration) {
		for i := 0; i < n; i++ {
			seq++
			callOnce(stub, seq, d, headers.md)
		}
		emit(map[string]any{"event": "done", "calls": n})
	}
	emit(map[string]any{"event": "started", "target": *target})
	if *calls > 0 {
		batch(*calls, *deadline)
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "call":
			n, d := 1, *deadline
			if len(f) > 1 {
				if n, err = strconv.Atoi(f[1]); err != nil {
					fatal("bad command %q: %v", sc.Text(), err)
				}
			}
			if len(f) > 2 {
				ms, err := strconv.Atoi(f[2])
				if err != nil {
					fatal("bad command %q: %v", sc.Text(), err)
				}
				d = time.Duration(ms) * time.Millisecond
			}
			batch(n, d)
		case "quit":
			return
		default:
			fatal("unknown command %q", sc.Text())
		}
	}
}

// headerFlag collects --header name=value pairs as outgoing metadata (route matching, hash policies).
type headerFlag struct{ md metadata.MD }

func (h *headerFlag) String() string { return fmt.Sprint(h.md) }

func (h *headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	if h.md == nil {
		h.md = metadata.MD{}
	}
	h.md.Append(name, value)
	return nil
}

func callOnce(stub testgrpc.TestServiceClient, seq int, d time.Duration, md metadata.MD) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if md != nil {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	var p peer.Peer
	start := time.Now()
	res, err := stub.UnaryCall(ctx, &testgrpc.SimpleRequest{FillServerId: true}, grpc.WaitForReady(true), grpc.Peer(&p))
	line := map[string]any{"event": "call", "seq": seq, "ms": time.Since(start).Milliseconds()}
	if p.Addr != nil {
		line["peer"] = p.Addr.String()
	}
	tls, id := identity(&p)
	line["tls"] = tls
	if id != "" {
		line["peerIdentity"] = id
	}
	if err != nil {
		st := status.Convert(err)
		line["ok"] = false
		line["code"] = st.Code().String()
		line["error"] = st.Message()
	} else {
		line["ok"] = true
		line["code"] = codes.OK.String()
		line["server"] = res.GetServerId()
	}
	emit(line)
}

type testServer struct {
	testgrpc.UnimplementedTestServiceServer
	id string
	// delay holds every UnaryCall this long (route timeouts); failOdd answers every odd UnaryCall
	// with UNAVAILABLE (retries).
	delay   time.Duration
	failOdd bool
	calls   atomic.Int64
}

func (s *testServer) EmptyCall(ctx context.Context, _ *testgrpc.Empty) (*testgrpc.Empty, error) {
	s.served(ctx, "EmptyCall")
	return &testgrpc.Empty{}, nil
}

func (s *testServer) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	s.served(ctx, "UnaryCall")
	if n := s.calls.Add(1); s.failOdd && n%2 == 1 {
		return nil, status.Errorf(codes.Unavailable, "%s: odd call %d fails", s.id, n)
	}
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	res := &testgrpc.SimpleResponse{Hostname: s.id}
	if req.GetFillServerId() {
		res.ServerId = s.id
	}
	return res, nil
}

// served reports each call reaching the handler (after any xDS RBAC), with the caller's identity.
func (s *testServer) served(ctx context.Context, method string) {
	line := map[string]any{"event": "served", "method": method}
	if p, ok := peer.FromContext(ctx); ok {
		line["peer"] = p.Addr.String()
		tls, id := identity(p)
		line["tls"] = tls
		if id != "" {
			line["peerIdentity"] = id
		}
	}
	emit(line)
}

// grpcServer is what both server kinds offer.
type grpcServer interface {
	RegisterService(sd *grpc.ServiceDesc, ss any)
	Serve(lis net.Listener) error
	Stop()
}

func runServer(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "IP:port to listen on (port 0: a free port)")
	id := fs.String("id", "", "server id returned to callers")
	useXds := fs.Bool("xds", false, "be an xDS-enabled server (listener and security from the control plane)")
	useXdsCreds := fs.Bool("xds-creds", false, "use xDS transport credentials (needs --xds)")
	delay := fs.Duration("delay", 0, "hold every UnaryCall this long before answering")
	failOdd := fs.Bool("fail-odd", false, "answer every odd UnaryCall with UNAVAILABLE")
	_ = fs.Parse(args)
	if *id == "" {
		fatal("server: --id is required")
	}
	if *useXdsCreds && !*useXds {
		fatal("server: --xds-creds needs --xds")
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fatal("server: listen %s: %v", *addr, err)
	}
	creds := grpc.Creds(transportCreds(*useXdsCreds, true))
	var srv grpcServer
	if *useXds {
		s, err := xds.NewGRPCServer(creds, xds.ServingModeCallback(func(a net.Addr, m xds.ServingModeChangeArgs) {
			line := map[string]any{"event": "serving-mode", "addr": a.String(), "mode": m.Mode.String()}
			if m.Err != nil {
				line["error"] = m.Err.Error()
			}
			emit(line)
		}))
		if err != nil {
			fatal("server: xds.NewGRPCServer: %v", err)
		}
		srv = s
	} else {
		srv = grpc.NewServer(creds)
	}
	srv.RegisterService(&testgrpc.TestService_ServiceDesc, &testServer{id: *id, delay: *delay, failOdd: *failOdd})
	emit(map[string]any{"event": "listening", "addr": lis.Addr().String(), "xds": *useXds})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		srv.Stop()
	}()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		fatal("server: serve: %v", err)
	}
	emit(map[string]any{"event": "stopped"})
}
