package main

// labCmd is `nines lab`: the whole topology on one machine, load, chaos and benchmarks
// (internal/lab). Each subcommand lives in its own file: lab_up.go (up, down, status),
// lab_load.go (load, chaos, bench).
type labCmd struct {
	Up     labUpCmd     `cmd:"" help:"Start the topology of a lab file as processes on loopback."`
	Down   labDownCmd   `cmd:"" help:"Stop everything a lab started, by PID, and remove its directories."`
	Status labStatusCmd `cmd:"" help:"Print a lab's processes, URLs and memory."`
	Load   labLoadCmd   `cmd:"" help:"Send a mixed end-user and admin load at a fixed rate for a bounded time, recording every request."`
	Chaos  labChaosCmd  `cmd:"" help:"Run a fault scenario under load and print its scorecard."`
	Bench  labBenchCmd  `cmd:"" help:"Measure throughput and latency per flow against same-run baselines."`
}
