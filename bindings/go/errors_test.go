package qstore

// Misuse and bad input give a *Error with the status and the message of that call,
// never a panic or a crash; and under goroutines every message is the caller's own.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func status(err error) Status {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return -1
}

func TestMissingFile(t *testing.T) {
	path := scratch(t, "does-not-exist.qs")
	_, err := Open(path)
	if status(err) != StatusIO || !strings.Contains(err.Error(), "does-not-exist.qs") {
		t.Fatalf("%v", err)
	}
}

func TestNotAQstoreFile(t *testing.T) {
	path := scratch(t, "garbage.qs")
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = 0x5a
	}
	os.WriteFile(path, garbage, 0o644)
	if _, err := Open(path); status(err) != StatusNotQstore || err.Error() == "" {
		t.Fatalf("%v", err)
	}
	if _, err := OpenMemory(garbage, nil); status(err) != StatusNotQstore {
		t.Fatalf("%v", err)
	}
	if _, err := OpenMemory(nil, nil); err == nil {
		t.Fatal("an empty buffer opened")
	}
}

func TestCorruptAndTruncatedFiles(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(testDir(t), "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	loadAll := func(data []byte) error {
		f, err := OpenMemory(data, nil)
		if err != nil {
			return err
		}
		defer f.Close()
		for i := 0; i < f.Len(); i++ {
			if _, err := f.LoadHigh(i); err != nil {
				return err
			}
		}
		return nil
	}
	for _, cut := range []int{20, 100, len(good) / 2, len(good) - 1} {
		if err := loadAll(good[:cut]); err == nil || err.Error() == "" {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	detected := 0
	for pos := 0; pos < len(good); pos += 97 {
		bad := append([]byte(nil), good...)
		bad[pos] ^= 0xff
		f, err := OpenMemory(bad, nil)
		if err == nil {
			err = f.Verify()
			f.Close()
		}
		if err != nil {
			detected++
			if err.Error() == "" {
				t.Fatalf("flip at %d: empty message", pos)
			}
		}
	}
	if detected == 0 {
		t.Fatal("no flipped byte was detected")
	}
}

func TestWrongBufferSizeClosedHandleAndBadArguments(t *testing.T) {
	f, err := Open(filepath.Join(testDir(t), "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	tensors, _ := f.Tensors()
	var q TensorInfo
	for _, ti := range tensors {
		if ti.NumLevels == 2 {
			q = ti
		}
	}
	small := make([]byte, q.HighBytes-1)
	if err := f.LoadHighInto(q.Index, small); status(err) != StatusBufferTooSmall || !strings.Contains(err.Error(), q.Name) {
		t.Fatalf("%v", err)
	}
	if err := f.LoadLevelInto(q.Index, 0, nil, nil, nil); status(err) != StatusBufferTooSmall {
		t.Fatalf("%v", err)
	}
	if _, err := f.Find("no.such.tensor"); status(err) != StatusNotFound || !strings.Contains(err.Error(), "no.such.tensor") {
		t.Fatalf("%v", err)
	}
	for _, err := range []error{
		func() error { _, err := f.Tensor(f.Len()); return err }(),
		func() error { _, err := f.Tensor(-1); return err }(),
		func() error { _, err := f.LoadHigh(-1); return err }(),
		func() error { _, err := f.LoadLevel(q.Index, 7); return err }(),
	} {
		if status(err) != StatusInvalidArgument {
			t.Fatalf("%v", err)
		}
	}
	f.Close()
	f.Close()
	if _, err := f.LoadHigh(0); status(err) != StatusInvalidArgument || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("after Close: %v", err)
	}
	if f.Len() != 0 {
		t.Fatal("a closed file has tensors")
	}
}

func TestWriterRefusesBadOptionsAndInput(t *testing.T) {
	path := scratch(t, "w.qs")
	if _, err := CreateWriter(path, &WriterOptions{LowSchemes: "no-such-scheme"}); status(err) != StatusInvalidArgument ||
		!strings.Contains(err.Error(), "no-such-scheme") {
		t.Fatalf("%v", err)
	}
	w, err := CreateWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("t", F32, []uint64{2, 2}, make([]byte, 15)); status(err) != StatusInvalidArgument {
		t.Fatalf("%v", err)
	}
	w.Close()
	if err := w.AddTensor("t", F32, []uint64{1}, make([]byte, 4)); status(err) != StatusInvalidArgument {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("an aborted writer left %s", path)
	}
}

// 16 goroutines, 160,000 failing opens and failing loads with runtime.Gosched()
// between the calls (goroutines then move between OS threads): every message is the
// caller's own. With the thread-local qs_last_error_message this fails.
func TestErrorsUnderGoroutinesAreTheCallersOwn(t *testing.T) {
	f, err := Open(filepath.Join(testDir(t), "real.qs"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensors, _ := f.Tensors()
	const goroutines, rounds = 16, 10000
	dir := t.TempDir()
	var wg sync.WaitGroup
	failures := make(chan string, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			tensor := tensors[g%len(tensors)]
			small := make([]byte, tensor.HighBytes-1)
			want := fmt.Sprintf("need %d bytes", tensor.HighBytes)
			for i := 0; i < rounds; i++ {
				name := fmt.Sprintf("missing-%d-%d.qs", g, i)
				_, err := Open(filepath.Join(dir, name))
				runtime.Gosched()
				if err == nil || !strings.Contains(err.Error(), name) {
					failures <- fmt.Sprintf("goroutine %d open %d: %v", g, i, err)
					return
				}
				if i%10 == 0 {
					err = f.LoadHighInto(tensor.Index, small)
					runtime.Gosched()
					if err == nil || !strings.Contains(err.Error(), tensor.Name) || !strings.Contains(err.Error(), want) {
						failures <- fmt.Sprintf("goroutine %d load %d: %v", g, i, err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(failures)
	for msg := range failures {
		t.Error(msg)
	}
}
