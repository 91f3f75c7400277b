package cli

import "io"

// Help handles a command line of a command that needs a subcommand: with
// no arguments it prints usage to stderr and returns status 2; with -h,
// --help or help, to stdout with status 0. handled is false for anything
// else.
func Help(args []string, stdout, stderr io.Writer, usage func(io.Writer)) (code int, handled bool) {
	switch {
	case len(args) == 0:
		usage(stderr)
		return 2, true
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		usage(stdout)
		return 0, true
	}
	return 0, false
}
