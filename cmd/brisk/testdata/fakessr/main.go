// Command fakessr stands in for a Leptos SSR binary in brisk's tests: it
// listens on LEPTOS_SITE_ADDR, answers every path with its own name and
// address, says which signal stopped it, and exits with FAKESSR_TERM_CODE
// (default 3) on SIGTERM or SIGINT. With FAKESSR_EXIT_AFTER it exits by
// itself with code 7 after that long; with FAKESSR_NO_LISTEN it never
// listens, like a server that ignores LEPTOS_SITE_ADDR.
//
// With FAKESSR_PAGE it streams that HTML file at /ssr/page as Leptos
// streams a page: in pieces split at <!--piece--> markers, each flushed,
// and before each piece after the first it waits (up to 10 s) for the
// client's word that it has the one before: a request to /ssr/got?n=N,
// which the page's own scripts send. It prints, for each piece, whether
// the word came first.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
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
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "ssr %s %s from %s", r.Method, r.URL.Path, addr)
		})
		got := make(chan string, 16)
		mux.HandleFunc("GET /ssr/page", func(w http.ResponseWriter, r *http.Request) { streamPage(w, got) })
		mux.HandleFunc("GET /ssr/got", func(w http.ResponseWriter, r *http.Request) {
			got <- r.URL.Query().Get("n")
			w.WriteHeader(http.StatusNoContent)
		})
		go http.Serve(ln, mux)
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

// streamPage sends FAKESSR_PAGE in pieces, each once the client has said
// it got the one before.
func streamPage(w http.ResponseWriter, got <-chan string) {
	page, err := os.ReadFile(os.Getenv("FAKESSR_PAGE"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	for i, piece := range strings.Split(string(page), "<!--piece-->") {
		if i > 0 {
			want := strconv.Itoa(i - 1)
			select {
			case n := <-got:
				if n == want {
					fmt.Printf("fakessr: the client had piece %d before piece %d was sent\n", i-1, i)
				} else {
					fmt.Printf("fakessr: the client said it had piece %s, expected %s\n", n, want)
				}
			case <-time.After(10 * time.Second):
				fmt.Printf("fakessr: no word of piece %d within 10s; sending piece %d anyway\n", i-1, i)
			}
		}
		fmt.Fprint(w, piece)
		w.(http.Flusher).Flush()
	}
}
