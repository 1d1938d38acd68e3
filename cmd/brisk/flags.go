package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// envName is the environment variable that sets a flag: BRISK_ plus the
// flag name in upper case with dashes as underscores (--log-level →
// BRISK_LOG_LEVEL).
func envName(flagName string) string {
	return "BRISK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags takes each flag from the command line if given there, and
// otherwise from its environment variable: a flag on the command line wins
// (for a repeatable one such as --header, the command line's values replace
// the variable's). Flags and positional arguments may be interleaved
// (`brisk serve ./dist --addr :9000`). A bad value, from either source, is
// an error naming where it came from.
func parseFlags(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if onCommandLine[f.Name] || envErr != nil {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s: %v", v, envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	return positional, nil
}

// printDefaults writes the flag list with each flag's environment variable.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n    \t%s (default %q, env %s)\n", f.Name, name, help, f.DefValue, envName(f.Name))
	})
}

// usageError prints one line for a command line that cannot work.
func usageError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "brisk %s: %v (see brisk %s --help)\n", cmd, err, cmd)
	return exitUsage
}

// repeatable collects a repeatable flag's values (--cache-control,
// --header, --previous...), parsed a line at a time: a value from the
// environment holds several, one per line, and a blank one adds nothing,
// so that a Dockerfile can pass an ARG that may be empty.
type repeatable[T any] struct {
	values *[]T
	parse  func(string) (T, error)
}

func (f repeatable[T]) String() string { return "" }
func (f repeatable[T]) Set(v string) error {
	for line := range strings.Lines(v) {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		x, err := f.parse(line)
		if err != nil {
			return err
		}
		*f.values = append(*f.values, x)
	}
	return nil
}

// stringList is a repeatable flag of plain strings.
func stringList(values *[]string) repeatable[string] {
	return repeatable[string]{values, func(s string) (string, error) { return s, nil }}
}

// parseHTTPURL reads the value of a flag that names a server.
func parseHTTPURL(flagName, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s %q: want an http:// or https:// URL", flagName, raw)
	}
	return u, nil
}
