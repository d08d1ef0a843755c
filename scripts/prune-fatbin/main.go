// Command prune-fatbin copies a CUDA shared library with the GPU code of
// every architecture but one zeroed (internal/fatbin), for
// scripts/pack-ort-cuda.sh:
//
//	go run ./scripts/prune-fatbin -arch 90 IN.so OUT.so
//
// It prints what it kept and zeroed; bad input exits 2 with one line.
package main

import (
	"flag"
	"fmt"
	"os"

	"unlearnbench/internal/fatbin"
)

func main() {
	arch := flag.Uint("arch", 90, "the architecture to keep, as NVIDIA numbers it (90: sm_90, H100/H200)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: prune-fatbin [-arch N] IN.so OUT.so")
		os.Exit(2)
	}
	st, err := fatbin.PruneFile(flag.Arg(0), flag.Arg(1), uint32(*arch))
	if err != nil {
		fmt.Fprintln(os.Stderr, "prune-fatbin:", err)
		os.Exit(2)
	}
	fmt.Printf("prune-fatbin: %d containers, %d entries; kept %d of sm_%d (%.1f MB), zeroed %d (%.1f MB)\n",
		st.Containers, st.Entries, st.Kept, *arch, float64(st.KeptBytes)/1e6, st.Zeroed, float64(st.ZeroBytes)/1e6)
}
