package qstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sameTensors checks that b serves every tensor of a, both precisions, byte for byte.
func sameTensors(t *testing.T, a, b *File) {
	t.Helper()
	if a.Len() != b.Len() || a.Len() == 0 {
		t.Fatalf("%d and %d tensors", a.Len(), b.Len())
	}
	for i := 0; i < a.Len(); i++ {
		x, err1 := a.LoadHigh(i)
		y, err2 := b.LoadHigh(i)
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("tensor %d high: %v %v", i, err1, err2)
		}
		l, err1 := a.LoadLow(i)
		m, err2 := b.LoadLow(i)
		if err1 != nil || err2 != nil || !bytes.Equal(l.CodeBytes(), m.CodeBytes()) ||
			!bytes.Equal(l.ScaleBytes(), m.ScaleBytes()) {
			t.Fatalf("tensor %d low: %v %v", i, err1, err2)
		}
	}
}

func TestOpenReaderAtServesTheSameTensors(t *testing.T) {
	for _, name := range []string{"model.qs", "real.qs", "model-raw.qs"} {
		path := filepath.Join(testDir(t), name)
		direct, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		osFile, _ := os.Open(path)
		fromFile, err := OpenReaderAt(osFile, int64(len(data)), name, nil)
		if err != nil {
			t.Fatal(err)
		}
		sameTensors(t, direct, fromFile)
		fromBytes, err := OpenReaderAt(bytes.NewReader(data), int64(len(data)), name, &OpenOptions{NumThreads: 2})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup // goroutines share the reader
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sameTensors(t, direct, fromBytes)
			}()
		}
		wg.Wait()
		if _, _, err := fromFile.ViewLow(0); status(err) != StatusNotAvailable {
			t.Fatalf("ViewLow of a reader: %v", err)
		}
		fromBytes.Close()
		fromFile.Close()
		osFile.Close()
		direct.Close()
	}
}

// flaky reads the bytes of data until read number failFrom, then fails or panics.
type flaky struct {
	data     []byte
	reads    atomic.Int64
	failFrom int64
	panics   bool
}

func (r *flaky) ReadAt(p []byte, off int64) (int, error) {
	if r.reads.Add(1) > r.failFrom {
		if r.panics {
			panic("reader panics (the test wants this)")
		}
		return 0, errors.New("reader fails")
	}
	return bytes.NewReader(r.data).ReadAt(p, off)
}

func TestFailingAndPanickingReadersGiveErrors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testDir(t), "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, panics := range []bool{false, true} {
		_, err := OpenReaderAt(&flaky{data: data, panics: panics}, int64(len(data)), "broken.qs", nil)
		if status(err) != StatusIO || !strings.Contains(err.Error(), "broken.qs") {
			t.Fatalf("open: %v", err)
		}
		f, err := OpenReaderAt(&flaky{data: data, failFrom: 3, panics: panics}, int64(len(data)), "later.qs", nil)
		if err != nil {
			t.Fatalf("open reads at most 3 times: %v", err)
		}
		for i := 0; i < f.Len(); i++ {
			if _, err := f.LoadHigh(i); status(err) != StatusIO {
				t.Fatalf("load %d: %v", i, err)
			}
		}
		f.Close()
	}
	if _, err := OpenReaderAt(bytes.NewReader(data[:100]), 100, "cut.qs", nil); err == nil {
		t.Fatal("100 bytes opened")
	}
	if _, err := OpenReaderAt(nil, 10, "nil", nil); status(err) != StatusInvalidArgument {
		t.Fatalf("nil reader: %v", err)
	}
}

// The File holds its reader until Close (or a failed open) and no longer: the reader is
// then collected.
func TestOpenReaderAtReleasesItsReader(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testDir(t), "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	var collected atomic.Int32
	open := func(r *flaky) (*File, error) {
		runtime.SetFinalizer(r, func(*flaky) { collected.Add(1) })
		return OpenReaderAt(r, int64(len(data)), "model.qs", nil)
	}
	f, err := open(&flaky{data: data, failFrom: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(&flaky{data: data[:64], failFrom: 1 << 40}); err == nil {
		t.Fatal("64 bytes opened")
	}
	waitCollected := func(want int32) {
		for deadline := time.Now().Add(10 * time.Second); collected.Load() < want && time.Now().Before(deadline); {
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
	}
	waitCollected(1)
	if collected.Load() != 1 {
		t.Fatalf("%d readers collected before Close, want the failed open's 1", collected.Load())
	}
	if _, err := f.LoadHigh(0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	waitCollected(2)
	if collected.Load() != 2 {
		t.Fatal("the reader of a closed file was not collected")
	}
}

func TestViewLowIsTheRawLowPrecision(t *testing.T) {
	raw, err := Open(filepath.Join(testDir(t), "model-raw.qs"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(testDir(t), "model-raw.qs"))
	inMemory, err := OpenMemory(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	tensors, _ := raw.Tensors()
	for _, f := range []*File{raw, inMemory} {
		for _, ti := range tensors {
			if !ti.LowCodesAreRaw {
				t.Fatalf("%s: not raw in a --low-raw file", ti.Name)
			}
			codes, scales, err := f.ViewLow(ti.Index)
			if err != nil {
				t.Fatal(err)
			}
			l, err := f.LoadLow(ti.Index)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(codes, l.CodeBytes()) || !bytes.Equal(scales, l.ScaleBytes()) {
				t.Fatalf("%s: the view differs from LoadLow", ti.Name)
			}
			if (ti.NumLevels == 1) != (scales == nil) {
				t.Fatalf("%s: scales %v for %d levels", ti.Name, scales != nil, ti.NumLevels)
			}
		}
	}
	if _, _, err := raw.ViewLow(-1); status(err) != StatusInvalidArgument {
		t.Fatalf("index -1: %v", err)
	}
	raw.Close()
	inMemory.Close()
	if _, _, err := raw.ViewLow(0); status(err) != StatusInvalidArgument || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("after Close: %v", err)
	}
	coded, err := Open(filepath.Join(testDir(t), "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	defer coded.Close()
	tensors, _ = coded.Tensors()
	for _, ti := range tensors {
		if _, _, err := coded.ViewLow(ti.Index); ti.NumLevels > 1 && status(err) != StatusNotAvailable {
			t.Fatalf("%s: entropy-coded codes viewed: %v", ti.Name, err)
		}
	}
}
