// Command golden writes the conformance vectors (conformance/vectors/v1)
// from the case definitions of package conformance, or checks that the
// committed files are what the definitions give.
//
// Usage, from the repository root:
//
//	go run ./conformance/cmd/golden            # (re)write the vectors: make golden
//	go run ./conformance/cmd/golden -check     # exit 1 listing every file that differs
//
// The vectors are deterministic: created_ns, creator_pid and creator_start
// are 0 and nothing depends on the machine, so regenerating unchanged
// definitions rewrites no file.
package main
