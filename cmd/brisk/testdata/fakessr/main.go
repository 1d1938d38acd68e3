// Command fakessr stands in for a Leptos SSR binary in brisk's tests: it
// listens on LEPTOS_SITE_ADDR, answers every path with its own name and
// address, says which signal stopped it, and exits with FAKESSR_TERM_CODE
// (default 3) on SIGTERM or SIGINT. With FAKESSR_EXIT_AFTER it exits by
// itself with code 7 after that long; with FAKESSR_NO_LISTEN it never
// listens, like a server that ignores LEPTOS_SITE_ADDR.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	addr := os.Getenv("LEPTOS_SITE_ADDR")
	if os.Getenv("FAKESSR_NO_LISTEN") == "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakessr:", err)
			os.Exit(2)
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "ssr %s %s from %s", r.Method, r.URL.Path, addr)
		}))
		fmt.Println("fakessr: listening on", addr)
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	var exitAfter <-chan time.Time
	if d, err := time.ParseDuration(os.Getenv("FAKESSR_EXIT_AFTER")); err == nil {
		exitAfter = time.After(d)
	}
	select {
	case sig := <-signals:
		fmt.Println("fakessr: got", sig)
		code, err := strconv.Atoi(os.Getenv("FAKESSR_TERM_CODE"))
		if err != nil {
			code = 3
		}
		os.Exit(code)
	case <-exitAfter:
		fmt.Println("fakessr: exiting by itself")
		os.Exit(7)
	}
}
