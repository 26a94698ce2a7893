package qstore

// Batches load into caller arenas exactly what the single loads return, reload into
// the same arena, and refuse a short or misaligned arena, bad indices and a closed file
// with error values; a corrupt tensor's error names it.

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// batchOrder is every tensor, last first, and tensor 0 twice.
func batchOrder(f *File) []int {
	var all []int
	for i := f.Len() - 1; i >= 0; i-- {
		all = append(all, i)
	}
	return append(all, 0)
}

func TestBatchesEqualSingleLoads(t *testing.T) {
	dir := testDir(t)
	for _, qs := range []string{"model.qs", "real.qs", "real-raw.qs"} {
		f, err := Open(filepath.Join(dir, qs))
		if err != nil {
			t.Fatal(err)
		}
		order := batchOrder(f)
		hb, err1 := f.HighBatch(order)
		lb, err2 := f.LowBatch(order)
		if err1 != nil || err2 != nil || hb.Len() != len(order) || lb.Len() != len(order) {
			t.Fatalf("%s: %v %v", qs, err1, err2)
		}
		high, low := hb.NewArena(), lb.NewArena()
		for round := 0; round < 2; round++ { // the second load overwrites garbage
			if err1, err2 := hb.LoadInto(high), lb.LoadInto(low); err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", qs, err1, err2)
			}
			for k, i := range order {
				h, _ := f.LoadHigh(i)
				l, _ := f.LoadLow(i)
				got := lb.Low(low, k)
				if hb.Index(k) != i || !bytes.Equal(hb.High(high, k), h) || got.Kind != l.Kind ||
					!reflect.DeepEqual(levelBytes(got), levelBytes(l)) || got.Info != l.Info {
					t.Fatalf("%s: tensor %d: the batch's load differs", qs, i)
				}
			}
			for _, arena := range [][]byte{high, low} {
				for j := range arena {
					arena[j] = 0xa5
				}
			}
		}
		f.Close()
	}
}

func TestBatchErrors(t *testing.T) {
	f, err := Open(filepath.Join(testDir(t), "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, indices := range [][]int{{0, f.Len()}, {-1}} {
		if _, err := f.HighBatch(indices); status(err) != StatusInvalidArgument {
			t.Fatalf("%v: %v", indices, err)
		}
		if _, err := f.LowBatch(indices); status(err) != StatusInvalidArgument {
			t.Fatalf("%v: %v", indices, err)
		}
	}
	hb, _ := f.HighBatch(batchOrder(f))
	lb, _ := f.LowBatch(batchOrder(f))
	high, low := hb.NewArena(), lb.NewArena()
	if err := hb.LoadInto(high[:len(high)-1]); status(err) != StatusBufferTooSmall {
		t.Fatalf("short arena: %v", err)
	}
	if err := lb.LoadInto(nil); status(err) != StatusBufferTooSmall {
		t.Fatalf("no arena: %v", err)
	}
	shifted := make([]byte, lb.ArenaBytes()+8)
	if err := lb.LoadInto(shifted[1:]); status(err) != StatusInvalidArgument {
		t.Fatalf("misaligned arena: %v", err)
	}
	for _, k := range []int{-1, hb.Len()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("High(arena, %d) of a batch of %d did not panic", k, hb.Len())
				}
			}()
			hb.High(high, k)
		}()
	}
	empty, err := f.HighBatch(nil)
	if err != nil || empty.Len() != 0 || empty.ArenaBytes() != 0 || empty.LoadInto(nil) != nil {
		t.Fatalf("empty batch: %v", err)
	}
	f.Close()
	for _, err := range []error{hb.LoadInto(high), lb.LoadInto(low), empty.LoadInto(nil)} {
		if status(err) != StatusInvalidArgument || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("after Close: %v", err)
		}
	}
	if _, err := f.HighBatch([]int{0}); status(err) != StatusInvalidArgument {
		t.Fatalf("after Close: %v", err)
	}
}

// A byte flipped in one tensor's data: the batch fails as that tensor's own load does,
// with the same status and a message that names it.
func TestBatchErrorNamesTheCorruptTensor(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(testDir(t), "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	for pos := len(good) / 3; pos < len(good); pos += 101 {
		bad := append([]byte(nil), good...)
		bad[pos] ^= 0xff
		f, err := OpenMemory(bad, nil)
		if err != nil {
			continue
		}
		var failed []int
		var single error
		for i := 0; i < f.Len(); i++ {
			if _, err := f.LoadHigh(i); err != nil {
				failed, single = append(failed, i), err
			}
		}
		if len(failed) != 1 {
			f.Close()
			continue
		}
		info, _ := f.Tensor(failed[0])
		b, _ := f.HighBatch(batchOrder(f))
		err = b.LoadInto(b.NewArena())
		f.Close()
		if status(err) != status(single) || !strings.Contains(err.Error(), info.Name) {
			t.Fatalf("flip at %d in %s: batch %v, single %v", pos, info.Name, err, single)
		}
		return
	}
	t.Fatal("no flip corrupted exactly one tensor's high precision")
}
