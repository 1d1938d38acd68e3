package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// envName is the environment variable that sets a flag: BRISK_ plus the
// flag name in upper case with dashes as underscores (--log-level →
// BRISK_LOG_LEVEL).
func envName(flagName string) string {
	return "BRISK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags applies environment variables first and then args, so that a
// flag on the command line wins. Flags and positional arguments may be
// interleaved (`brisk serve ./dist --addr :9000`). A bad value, from either
// source, is an error naming where it came from.
func parseFlags(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) ([]string, error) {
	fs.SetOutput(io.Discard)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := lookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("invalid value %q for %s: %v", v, envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
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
