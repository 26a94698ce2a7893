// The Go binding's whole-model load (bench/bindings/run.sh): qstore-load-all FILE.qs
// PASSES. After one untimed pass, each pass loads every tensor into a new slice
// (LoadHigh, then LoadLow: typed codes and scales) and prints "high SECONDS" and
// "low SECONDS", as load_all.c does with the C API.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"qstore"
)

func pass(f *qstore.File, high bool) error {
	tensors, err := f.Tensors()
	if err != nil {
		return err
	}
	for _, t := range tensors {
		if high {
			_, err = f.LoadHigh(t.Index)
		} else {
			_, err = f.LoadLow(t.Index)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func run(path string, passes int) error {
	f, err := qstore.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pass(f, true); err != nil {
		return err
	}
	if err := pass(f, false); err != nil {
		return err
	}
	for p := 0; p < passes; p++ {
		for _, high := range []bool{true, false} {
			t0 := time.Now()
			if err := pass(f, high); err != nil {
				return err
			}
			name := "low"
			if high {
				name = "high"
			}
			fmt.Printf("%s %.6f\n", name, time.Since(t0).Seconds())
		}
	}
	return nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s FILE.qs PASSES\n", os.Args[0])
		os.Exit(2)
	}
	passes, err := strconv.Atoi(os.Args[2])
	if err == nil {
		err = run(os.Args[1], passes)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "qstore-load-all: %v\n", err)
		os.Exit(1)
	}
}
