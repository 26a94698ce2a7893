package qstore

// The Writer: a model written tensor by tensor is the file qstore pack writes, byte for
// byte; every scheme's level comes back typed; a chain has its levels; given low codes
// are kept; Close of an unfinished writer leaves the old file as it was.

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWriterWritesWhatPackWrites(t *testing.T) {
	dir := testDir(t)
	for _, name := range []string{"model", "real"} {
		st := readSafetensors(t, filepath.Join(dir, name+".safetensors"))
		out := scratch(t, name+".qs")
		w, err := CreateWriter(out, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range st.Metadata {
			if err := w.SetMetadata(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		for _, tensor := range st.Tensors {
			dtype, _ := DtypeFromName(tensor.Dtype)
			if err := w.AddTensor(tensor.Name, dtype, tensor.Shape, tensor.Data); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		ours, _ := os.ReadFile(out)
		packed, _ := os.ReadFile(filepath.Join(dir, name+".qs"))
		if !bytes.Equal(ours, packed) {
			t.Fatalf("%s: the Writer's file differs from qstore pack's", name)
		}
	}
}

// f32Tensor is a [rows, cols] F32 tensor of varied values (deterministic).
func f32Tensor(rows, cols int, seed uint32) []byte {
	x := seed*2654435761 + 1
	out := make([]byte, 0, rows*cols*4)
	for i := 0; i < rows*cols; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v := float32(x%20001)/1000 - 10
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

func oneTensorFile(t *testing.T, schemes string) (*File, []byte) {
	data := f32Tensor(64, 128, 3)
	path := scratch(t, "one.qs")
	w, err := CreateWriter(path, &WriterOptions{LowSchemes: schemes, ZstdLevel: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("layer.weight", F32, []uint64{64, 128}, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

func TestEverySchemeComesBackTyped(t *testing.T) {
	cases := []struct {
		spec   string
		scheme Scheme
		ok     func(l *Level) bool
	}{
		{"int8-row", Int8Row, func(l *Level) bool { return len(l.I8) == 64*128 && len(l.ScalesF32) == 64 }},
		{"int8-tensor", Int8Tensor, func(l *Level) bool { return len(l.I8) == 64*128 && len(l.ScalesF32) == 1 }},
		{"fp8-e4m3-row", FP8E4M3Row, func(l *Level) bool { return l.Kind == CodesFP8E4M3 && len(l.Bytes) == 64*128 }},
		{"fp8-e5m2-tensor", FP8E5M2Tensor, func(l *Level) bool { return l.Kind == CodesFP8E5M2 && len(l.ScalesF32) == 1 }},
		{"q8_0", Q8_0, func(l *Level) bool { return l.Kind == CodesGGMLBlocks && len(l.Bytes) == 64*4*34 }},
		{"q4_0", Q4_0, func(l *Level) bool { return l.Kind == CodesGGMLBlocks && len(l.Bytes) == 64*4*18 }},
		{"int4-asym-group:32", Int4AsymGroup, func(l *Level) bool {
			return len(l.Int4) == 64*16 && len(l.ScalesF16) == 64*4 && len(l.ZeroPoints) == 64*4
		}},
		{"uint8-asym-tensor", Uint8AsymTensor, func(l *Level) bool {
			return l.Kind == CodesU8 && len(l.ScalesF32) == 1 && len(l.ZeroPoints) == 1
		}},
	}
	for _, c := range cases {
		f, data := oneTensorFile(t, c.spec)
		ti, _ := f.Tensor(0)
		high, err := f.LoadHigh(0)
		if err != nil || !bytes.Equal(high, data) || ti.LowScheme != c.scheme {
			t.Fatalf("%s: high or scheme (%v)", c.spec, err)
		}
		l, err := f.LoadLow(0)
		many, err2 := f.LoadLowMany([]int{0, 0})
		if err2 != nil || !reflect.DeepEqual(levelBytes(many[1]), levelBytes(l)) || !c.ok(many[1]) {
			t.Fatalf("%s: batched low differs (%v)", c.spec, err2)
		}
		if err != nil || !c.ok(l) || uint64(len(l.CodeBytes())) != ti.LowCodeBytes ||
			uint64(len(l.ScaleBytes())) != ti.LowScaleBytes {
			t.Fatalf("%s: low not typed as expected (%v): %+v", c.spec, err, l.Info)
		}
	}
}

func TestAChainHasEveryLevel(t *testing.T) {
	f, data := oneTensorFile(t, "int8-row,q4_0")
	ti, _ := f.Tensor(0)
	l0, _ := f.LoadLevel(0, 0)
	l1, _ := f.LoadLevel(0, 1)
	l2, _ := f.LoadLevel(0, 2)
	if ti.NumLevels != 3 || l0.Kind != CodesGGMLBlocks || l1.Kind != CodesI8 || !bytes.Equal(l2.Bytes, data) {
		t.Fatal("chain levels")
	}
}

func TestGivenLowCodesAreKept(t *testing.T) {
	f, data := oneTensorFile(t, "int8-row")
	low, _ := f.LoadLow(0)
	for i := 0; i < len(low.I8); i += 7 {
		if low.I8[i] < 127 {
			low.I8[i]++
		}
	}
	path := scratch(t, "given.qs")
	w, _ := CreateWriter(path, nil)
	given := &GivenLow{Scheme: Int8Row, Codes: low.CodeBytes(), Scales: low.ScaleBytes()}
	if err := w.AddTensorWithLow("layer.weight", F32, []uint64{64, 128}, data, given); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	g, _ := Open(path)
	defer g.Close()
	back, _ := g.LoadLow(0)
	high, _ := g.LoadHigh(0)
	if !bytes.Equal(back.CodeBytes(), low.CodeBytes()) || !bytes.Equal(back.ScaleBytes(), low.ScaleBytes()) ||
		!bytes.Equal(high, data) {
		t.Fatal("given low codes not kept")
	}
}

func TestClosingAnUnfinishedWriterLeavesNothing(t *testing.T) {
	path := scratch(t, "aborted.qs")
	os.WriteFile(path, []byte("old contents"), 0o644)
	w, err := CreateWriter(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.AddTensor("a.weight", F32, []uint64{64, 128}, f32Tensor(64, 128, 9))
	w.Close()
	if got, _ := os.ReadFile(path); string(got) != "old contents" {
		t.Fatal("the old file changed")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporaries left: %v", entries)
	}
}
