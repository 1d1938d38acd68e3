package main

import "runtime/debug"

// buildVersion is set by the release build: -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion string

// version reports the release version, or the module version that the Go
// toolchain recorded (for `go install ...@v1.2.3`), or "devel".
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}
