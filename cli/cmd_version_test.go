package cli

import (
	"runtime/debug"
	"testing"
)

func TestVersionLine(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	cases := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"stamped by make", "v0.3.0-12-gabc1234", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-2026"}}, "unlearnbench v0.3.0-12-gabc1234 (go1.26.8)"},
		{"module version", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "unlearnbench v1.2.3 (go1.26.8)"},
		{"vcs revision", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef0123", "false")}, "unlearnbench 0123456789ab (go1.26.8)"},
		{"dirty tree", "", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("0123456789abcdef0123", "true")}, "unlearnbench 0123456789ab-dirty (go1.26.8)"},
		{"nothing known", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "unlearnbench (devel) (go1.26.8)"},
		{"no build info", "", nil, "unlearnbench (devel) (unknown)"},
	}
	for _, c := range cases {
		if got := versionLine(c.stamped, c.info); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
