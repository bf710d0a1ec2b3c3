// Command runner is the Go reader and writer of the conformance suite
// (conformance/README.md, "Runners"). The driver, conformance/run.py, calls
// it; so can a person.
//
//	runner read DIR NAME...         attach each segment NAME of DIR with arena.Attach,
//	                                validate it fully, print its canonical dump
//	runner write DIR CASE.json...   write each case through the Go API (package arena)
//	                                as segment <case> in DIR
//	runner cinput OUTDIR CASE.json... write each case's input for the C writer
//	                                runner as OUTDIR/<case>.txt
//
// read prints, per segment, "case NAME", then either the dump lines or
// "error CODE STAGE message" (STAGE attach or validate), then "end". write
// prints one line per case: "ok CASE" or "error CASE CODE message".
package main
