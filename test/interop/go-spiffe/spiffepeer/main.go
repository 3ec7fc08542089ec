// spiffepeer: go-spiffe v2's Workload API client (workloadapi) against meshward's node identity
// socket, for test/agent/identity/go-spiffe.test.ts. It prints one JSON object per line.
//
//	spiffepeer <socket> fetch   FetchX509SVID and FetchX509Bundles once, then exit
//	spiffepeer <socket> watch   WatchX509Context: every update and every watch error, until killed
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

type watcher struct{}

func (watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	svid := c.DefaultSVID()
	emit(map[string]any{"event": "update", "id": svid.ID.String(), "serial": svid.Certificates[0].SerialNumber.String(), "bundles": c.Bundles.Len()})
}

func (watcher) OnX509ContextWatchError(err error) {
	emit(map[string]any{"event": "error", "error": err.Error()})
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: spiffepeer <socket> fetch|watch")
		os.Exit(2)
	}
	addr := "unix://" + os.Args[1]
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(addr))
	if err != nil {
		emit(map[string]any{"event": "error", "error": err.Error()})
		os.Exit(1)
	}
	defer client.Close()
	switch os.Args[2] {
	case "fetch":
		svid, err := client.FetchX509SVID(ctx)
		if err != nil {
			emit(map[string]any{"event": "error", "error": err.Error()})
			return
		}
		emit(map[string]any{"event": "svid", "id": svid.ID.String(), "serial": svid.Certificates[0].SerialNumber.String(), "hint": svid.Hint})
		bundles, err := client.FetchX509Bundles(ctx)
		if err != nil {
			emit(map[string]any{"event": "error", "error": err.Error()})
			return
		}
		tds := []string{}
		for _, b := range bundles.Bundles() {
			tds = append(tds, fmt.Sprintf("%s:%d", b.TrustDomain().IDString(), len(b.X509Authorities())))
		}
		emit(map[string]any{"event": "bundles", "trustDomains": tds})
	case "watch":
		err := client.WatchX509Context(ctx, watcher{})
		emit(map[string]any{"event": "stopped", "error": fmt.Sprint(err)})
	}
}
