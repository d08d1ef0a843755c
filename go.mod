module unlearnbench

go 1.26.8

require (
	github.com/olekukonko/tablewriter v0.0.5
	github.com/spf13/cobra v1.10.2
	golang.org/x/image v0.48.0
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/mattn/go-runewidth v0.0.9 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)
