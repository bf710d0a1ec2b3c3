package main

/*
#cgo CFLAGS: -std=gnu99 -Wall -Wextra -Werror -O2 -gdwarf-4
#include "sa_write.h"
*/
import "C"

// main is required by -buildmode=c-shared and never runs.
func main() {}
