package unlearners

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Temporary files and folders of exec members (the member's workdir, the
// data folder without a cache, a worker's stderr, the Python package, the
// cache's half-written and damaged data folders) carry their owner's tag
// in their names: the PID and the start time of the process that made
// them. A process killed by SIGKILL cannot remove them; the next one that
// runs exec removes those whose owner is dead, and leaves alone those of
// runs still going (a PID alone may have been reused by now).

// tempPrefixes are the names in $TMPDIR that an exec member makes, each
// followed by an owner tag and "-".
var tempPrefixes = []string{"unlearnbench-exec-member-", "unlearnbench-exec-data-", "unlearnbench-worker-", "unlearnbench-python-"}

// ownerTag is this process's tag: "PID.START" (START 0 where the start
// time cannot be read).
var ownerTag = sync.OnceValue(func() string {
	pid := os.Getpid()
	return strconv.Itoa(pid) + "." + strconv.FormatUint(processStart(pid), 10)
})

// ownedPattern is the os.MkdirTemp pattern of a temporary name of this
// process after prefix.
func ownedPattern(prefix string) string { return prefix + ownerTag() + "-" }

// ownerDead reports whether tag (a name's part up to its next "-") names
// a process that no longer runs; ok is false when it is no tag.
func ownerDead(tag string) (dead, ok bool) {
	pidS, startS, found := strings.Cut(tag, ".")
	pid, err1 := strconv.Atoi(pidS)
	start, err2 := strconv.ParseUint(startS, 10, 64)
	if !found || err1 != nil || err2 != nil || pid <= 0 {
		return false, false
	}
	if !processAlive(pid) {
		return true, true
	}
	// A live process with another start time reused the PID.
	if s := processStart(pid); start != 0 && s != 0 && s != start {
		return true, true
	}
	return false, true
}

// removeDeadOwners removes the entries of dir named prefix+tag+"-..."
// for one of prefixes whose owner is dead. Untagged names (from versions
// before the tags) are left to olderThan: removed when older, kept when 0.
func removeDeadOwners(dir string, prefixes []string, olderThan time.Duration) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		for _, p := range prefixes {
			rest, ok := strings.CutPrefix(e.Name(), p)
			if !ok {
				continue
			}
			tag, _, _ := strings.Cut(rest, "-")
			dead, tagged := ownerDead(tag)
			if !tagged && olderThan > 0 {
				if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > olderThan {
					dead = true
				}
			}
			if dead {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
			break
		}
	}
}

// removeDeadTemps clears $TMPDIR of dead runs' exec leftovers, once per
// process: at the first member it runs.
var removeDeadTemps = sync.OnceFunc(func() { removeDeadOwners(os.TempDir(), tempPrefixes, 0) })
