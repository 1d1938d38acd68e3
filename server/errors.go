package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// httpError is a request brisk refuses: the status is what the client
// sees, the detail (which may name paths or internals) only the log.
type httpError struct {
	status int
	detail error
}

func (e *httpError) Error() string {
	if e.detail == nil {
		return http.StatusText(e.status)
	}
	return fmt.Sprintf("%s: %v", http.StatusText(e.status), e.detail)
}

func (e *httpError) Unwrap() error { return e.detail }

// refuse makes the error a handler returns instead of writing a response.
func refuse(status int, detail error) error { return &httpError{status: status, detail: detail} }

// writeError answers an error with a short plain-text message naming only
// the status. Headers a handler set to describe this outcome stay (Vary,
// Allow on a 405, Content-Range on a 416); a handler sets no others before
// it knows it will not fail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var he *httpError
	var ee *echo.HTTPError // echo's own routing answers
	switch {
	case errors.As(err, &he):
		status = he.status
	case errors.As(err, &ee):
		status = ee.Code
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "err", err}
	if status >= 500 {
		s.log.Error("request failed", attrs...)
	} else {
		s.log.Debug("request refused", attrs...)
	}
	body := strconv.Itoa(status) + " " + http.StatusText(status) + "\n"
	h := w.Header()
	h["Content-Type"] = valPlainText
	h["X-Content-Type-Options"] = valNosniff
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
