package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/brisk-server/brisk/server"
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

// cacheRulesFlag collects repeated --cache-control GLOB=VALUE rules.
type cacheRulesFlag struct{ rules *[]server.CacheRule }

func (f cacheRulesFlag) String() string { return "" }
func (f cacheRulesFlag) Set(v string) error {
	r, err := server.ParseCacheRule(v)
	if err != nil {
		return err
	}
	*f.rules = append(*f.rules, r)
	return nil
}

// headerRulesFlag collects repeated --header GLOB=Name: value rules; one
// value may hold several, a line each (BRISK_HEADER).
type headerRulesFlag struct{ rules *[]server.HeaderRule }

func (f headerRulesFlag) String() string { return "" }
func (f headerRulesFlag) Set(v string) error {
	for line := range strings.Lines(v) {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		r, err := server.ParseHeaderRule(line)
		if err != nil {
			return err
		}
		*f.rules = append(*f.rules, r)
	}
	return nil
}
