package qstore_test

import (
	"fmt"

	"qstore"
)

// The README's example: both precisions of every tensor (compiled by go test).
func loadBoth() error {
	f, err := qstore.Open("model.qs") // or qstore.OpenMemory(data, nil)
	if err != nil {
		return err
	}
	defer f.Close()
	tensors, _ := f.Tensors() // Name, Dtype, Shape, ...
	for _, t := range tensors {
		high, err := f.LoadHigh(t.Index) // bit-exact, t.Dtype's bytes
		low, err2 := f.LoadLow(t.Index)  // typed: low.I8 + low.ScalesF32 for int8-row
		if err != nil || err2 != nil {
			return fmt.Errorf("%s: %v %v", t.Name, err, err2)
		}
		fmt.Println(t.Name, t.Shape, len(high), len(low.I8), len(low.ScalesF32))
	}
	return nil
}

func ExampleOpen() {
	if err := loadBoth(); err != nil {
		fmt.Println("error:", err)
	}
}

// The README's batch example: the low precision of every tensor reloaded into the
// same arena (compiled by go test).
func reloadLow(f *qstore.File, reloads int) error {
	indices := make([]int, f.Len())
	for i := range indices {
		indices[i] = i
	}
	b, err := f.LowBatch(indices) // once
	if err != nil {
		return err
	}
	arena := b.NewArena() // once
	for r := 0; r < reloads; r++ {
		if err := b.LoadInto(arena); err != nil { // each reload: one call, every tensor
			return err
		}
	}
	for k := 0; k < b.Len(); k++ {
		low := b.Low(arena, k) // typed view, valid until the next LoadInto
		fmt.Println(b.Index(k), len(low.I8), len(low.ScalesF32))
	}
	return nil
}

func ExampleBatch() {
	f, err := qstore.Open("model.qs")
	if err == nil {
		defer f.Close()
		err = reloadLow(f, 2)
	}
	if err != nil {
		fmt.Println("error:", err)
	}
}
