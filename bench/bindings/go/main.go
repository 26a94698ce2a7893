// The Go binding's whole-model load (bench/bindings/run.sh):
//
//	qstore-load-all FILE.qs PASSES new|reuse|many|batch
//
// After one untimed pass (none when PASSES is 0: then the open and one pass are timed,
// the first loads of a fresh process), each pass loads every tensor, high precision then low, and
// prints "high WALL CPU" and "low WALL CPU" (seconds), as load_all.c does with the C API. new: into
// new slices (LoadHigh, LoadLow: typed codes and scales); reuse: into the same slices,
// made once for the largest tensor (LoadHighInto, LoadLevelInto); many: all tensors
// in one call (LoadHighMany, LoadLowMany); batch: all tensors in one call into two arenas
// made once (HighBatch, LowBatch, Batch.LoadInto).
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"qstore"
)

type buffers struct{ high, codes, scales []byte }

func makeBuffers(tensors []qstore.TensorInfo) *buffers {
	var high, codes, scales uint64 = 1, 1, 1
	for _, t := range tensors {
		if t.HighBytes > high {
			high = t.HighBytes
		}
		if t.LowCodeBytes > codes {
			codes = t.LowCodeBytes
		}
		if t.LowScaleBytes > scales {
			scales = t.LowScaleBytes
		}
	}
	return &buffers{make([]byte, high), make([]byte, codes), make([]byte, scales)}
}

func pass(f *qstore.File, high bool, b *buffers) error {
	tensors, err := f.Tensors()
	if err != nil {
		return err
	}
	for _, t := range tensors {
		switch {
		case b != nil && high:
			err = f.LoadHighInto(t.Index, b.high[:t.HighBytes])
		case b != nil:
			err = f.LoadLevelInto(t.Index, 0, b.codes[:t.LowCodeBytes], b.scales[:t.LowScaleBytes], nil)
		case high:
			_, err = f.LoadHigh(t.Index)
		default:
			_, err = f.LoadLow(t.Index)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func many(f *qstore.File, high bool) error {
	all := make([]int, f.Len())
	for i := range all {
		all[i] = i
	}
	var err error
	if high {
		_, err = f.LoadHighMany(all)
	} else {
		_, err = f.LoadLowMany(all)
	}
	return err
}

// arenas are batch mode's: every tensor's high and low precision, each in an arena made
// once and reloaded by every pass.
type arenas struct {
	high, low           *qstore.Batch
	highArena, lowArena []byte
}

func makeArenas(f *qstore.File) (*arenas, error) {
	all := make([]int, f.Len())
	for i := range all {
		all[i] = i
	}
	high, err := f.HighBatch(all)
	if err != nil {
		return nil, err
	}
	low, err := f.LowBatch(all)
	if err != nil {
		return nil, err
	}
	return &arenas{high, low, high.NewArena(), low.NewArena()}, nil
}

func (a *arenas) load(high bool) error {
	if high {
		return a.high.LoadInto(a.highArena)
	}
	return a.low.LoadInto(a.lowArena)
}

func run(path string, passes int, mode string) error {
	t0, cpu0 := time.Now(), cpuSeconds()
	f, err := qstore.Open(path)
	if err != nil {
		return err
	}
	if passes == 0 {
		report("open", t0, cpu0)
	}
	defer f.Close()
	var b *buffers
	if mode == "reuse" {
		tensors, err := f.Tensors()
		if err != nil {
			return err
		}
		b = makeBuffers(tensors)
	}
	var a *arenas
	if mode == "batch" {
		if a, err = makeArenas(f); err != nil {
			return err
		}
	}
	onePass := func(high bool) error {
		if a != nil {
			return a.load(high)
		}
		if mode == "many" {
			return many(f, high)
		}
		return pass(f, high, b)
	}
	if passes > 0 {
		if err := onePass(true); err != nil {
			return err
		}
		if err := onePass(false); err != nil {
			return err
		}
	}
	for p := 0; p < passes || p == 0; p++ {
		for _, high := range []bool{true, false} {
			t0, cpu0 := time.Now(), cpuSeconds()
			if err := onePass(high); err != nil {
				return err
			}
			name := "low"
			if high {
				name = "high"
			}
			report(name, t0, cpu0)
		}
	}
	return nil
}

// cpuSeconds is the process's CPU time (user + system, all threads).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) * 1e-9
}

// report prints "WHAT WALL CPU": the seconds since (t0, cpu0).
func report(what string, t0 time.Time, cpu0 float64) {
	fmt.Printf("%s %.6f %.6f\n", what, time.Since(t0).Seconds(), cpuSeconds()-cpu0)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintf(os.Stderr, "usage: %s FILE.qs PASSES new|reuse|many|batch\n", os.Args[0])
		os.Exit(2)
	}
	passes, err := strconv.Atoi(os.Args[2])
	if err == nil {
		err = run(os.Args[1], passes, os.Args[3])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "qstore-load-all: %v\n", err)
		os.Exit(1)
	}
}
