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
