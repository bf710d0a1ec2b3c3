// Package sectest holds what the security tests of several packages share
// (issue 19): unprivileged accounts for a test run as root, copies of test
// binaries that those accounts may execute, and the directory-swap rig
// that races a tool's removals against a directory swapped for a symbolic
// link.
//
// Only tests import it; it must not be imported by the library or the
// command. It creates no system accounts: the unprivileged "users" are uids
// and gids that have no entry in /etc/passwd or /etc/group, which the
// kernel accepts as they are, so a test run leaves the machine's account
// databases untouched.
package sectest
