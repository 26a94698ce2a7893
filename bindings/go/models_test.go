package qstore

// Every tensor of a generated model and of a real shared model, packed by the CLI
// (coded and --low-raw): the high precision equals the original safetensors bytes, the
// low precision what `qstore unpack --precision low` wrote (codes under the tensor's
// name, scales under X.SCB), from a path and from memory; metadata as in the original.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func scalesName(name string) string {
	return strings.TrimSuffix(name, ".weight") + ".SCB"
}

// checkFile returns the first difference from the original, or nil, and the number of
// quantized tensors.
func checkFile(f *File, orig, low *safetensors) (int, error) {
	tensors, err := f.Tensors()
	if err != nil {
		return 0, err
	}
	if len(tensors) != len(orig.Tensors) {
		return 0, fmt.Errorf("%d tensors, the original has %d", len(tensors), len(orig.Tensors))
	}
	quantized := 0
	for _, t := range tensors {
		st := orig.byName[t.Name]
		if st == nil || t.Dtype.String() != st.Dtype || !reflect.DeepEqual(t.Shape, st.Shape) {
			return 0, fmt.Errorf("%s: name, dtype or shape differ", t.Name)
		}
		high, err := f.LoadHigh(t.Index)
		if err != nil {
			return 0, err
		}
		if !bytes.Equal(high, st.Data) {
			return 0, fmt.Errorf("%s: high bytes differ", t.Name)
		}
		l, err := f.LoadLow(t.Index)
		if err != nil {
			return 0, err
		}
		codes := low.byName[t.Name]
		if codes == nil || !bytes.Equal(l.CodeBytes(), codes.Data) {
			return 0, fmt.Errorf("%s: low codes differ", t.Name)
		}
		switch t.LowScheme {
		case Passthrough:
			if l.Kind != CodesRaw || !bytes.Equal(l.Bytes, st.Data) || l.ScaleBytes() != nil {
				return 0, fmt.Errorf("%s: passthrough low differs", t.Name)
			}
		case Int8Row:
			quantized++
			sc := low.byName[scalesName(t.Name)]
			if l.Kind != CodesI8 || len(l.I8) != int(t.NumElements) || uint64(len(l.ScalesF32)) != t.Shape[0] ||
				sc == nil || !bytes.Equal(l.ScaleBytes(), sc.Data) {
				return 0, fmt.Errorf("%s: int8 codes or scales differ", t.Name)
			}
		default:
			return 0, fmt.Errorf("%s: unexpected scheme %d", t.Name, t.LowScheme)
		}
		top, err := f.LoadLevel(t.Index, t.NumLevels-1)
		if err != nil || !bytes.Equal(top.Bytes, high) {
			return 0, fmt.Errorf("%s: top level != high (%v)", t.Name, err)
		}
	}
	return quantized, nil
}

func checkCase(t *testing.T, name string) {
	dir := testDir(t)
	orig := readSafetensors(t, filepath.Join(dir, name+".safetensors"))
	low := readSafetensors(t, filepath.Join(dir, name+"-low.safetensors"))
	for _, qs := range []string{name + ".qs", name + "-raw.qs"} {
		path := filepath.Join(dir, qs)
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if q, err := checkFile(f, orig, low); err != nil || q == 0 {
			t.Fatalf("%s: %v (%d quantized)", qs, err, q)
		}
		meta, err := f.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		var pairs [][2]string
		for _, e := range meta {
			pairs = append(pairs, [2]string{e.Key, e.Value.(string)})
		}
		if !reflect.DeepEqual(pairs, orig.Metadata) {
			t.Fatalf("%s: metadata %v, original %v", qs, pairs, orig.Metadata)
		}
		if err := f.Verify(); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		m, err := OpenMemory(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range data {
			data[i] = 0 // the handle holds its own copy
		}
		if _, err := checkFile(m, orig, low); err != nil {
			t.Fatalf("%s (memory): %v", qs, err)
		}
		full, _ := m.LevelPrefixBytes(m.LevelCount() - 1)
		lowPrefix, _ := m.LevelPrefixBytes(0)
		if full != uint64(len(data)) || lowPrefix >= full {
			t.Fatalf("%s: prefixes %d %d of %d", qs, lowPrefix, full, len(data))
		}
		m.Close()
	}
}

func TestGeneratedModelLoadsBothPrecisions(t *testing.T) { checkCase(t, "model") }

func TestRealModelLoadsBothPrecisions(t *testing.T) { checkCase(t, "real") }

func TestADifferentOriginalIsToldApart(t *testing.T) {
	dir := testDir(t)
	other := readSafetensors(t, filepath.Join(dir, "other.safetensors"))
	low := readSafetensors(t, filepath.Join(dir, "model-low.safetensors"))
	f, err := Open(filepath.Join(dir, "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := checkFile(f, other, low); err == nil || !strings.Contains(err.Error(), "high bytes differ") {
		t.Fatalf("the check accepted a model with other values: %v", err)
	}
}

func TestMetadataLookup(t *testing.T) {
	dir := testDir(t)
	orig := readSafetensors(t, filepath.Join(dir, "model.safetensors"))
	f, err := Open(filepath.Join(dir, "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(orig.Metadata) == 0 {
		t.Fatal("the generated model has no metadata")
	}
	for _, kv := range orig.Metadata {
		v, ok, err := f.MetadataValue(kv[0])
		if err != nil || !ok || v.(string) != kv[1] {
			t.Fatalf("%s: %v %v %v", kv[0], v, ok, err)
		}
	}
	if _, ok, err := f.MetadataValue("no such key"); ok || err != nil {
		t.Fatalf("missing key: %v %v", ok, err)
	}
}

func TestBatchedLoadsEqualSingleLoads(t *testing.T) {
	dir := testDir(t)
	for _, qs := range []string{"model.qs", "real.qs", "real-raw.qs"} {
		f, err := Open(filepath.Join(dir, qs))
		if err != nil {
			t.Fatal(err)
		}
		var all []int
		for i := f.Len() - 1; i >= 0; i-- {
			all = append(all, i)
		}
		highs, err := f.LoadHighMany(all)
		if err != nil {
			t.Fatal(err)
		}
		lows, err := f.LoadLowMany(all)
		if err != nil {
			t.Fatal(err)
		}
		for k, i := range all {
			high, _ := f.LoadHigh(i)
			low, _ := f.LoadLow(i)
			if !bytes.Equal(highs[k], high) || !reflect.DeepEqual(levelBytes(lows[k]), levelBytes(low)) ||
				lows[k].Kind != low.Kind {
				t.Fatalf("%s: tensor %d: batched load differs", qs, i)
			}
		}
		if _, err := f.LoadHighMany([]int{0, f.Len()}); status(err) != StatusInvalidArgument {
			t.Fatalf("%s: %v", qs, err)
		}
		if _, err := f.LoadLowMany([]int{f.Len(), 0}); status(err) != StatusInvalidArgument {
			t.Fatalf("%s: %v", qs, err)
		}
		f.Close()
		if _, err := f.LoadHighMany([]int{0}); status(err) != StatusInvalidArgument {
			t.Fatalf("%s: after Close: %v", qs, err)
		}
		if _, err := f.LoadLowMany([]int{0}); status(err) != StatusInvalidArgument {
			t.Fatalf("%s: after Close: %v", qs, err)
		}
	}
}

func levelBytes(l *Level) [3][]byte {
	return [3][]byte{l.CodeBytes(), l.ScaleBytes(), l.ZeroPoints}
}

func TestRowRangesAreSlicesOfTheWhole(t *testing.T) {
	dir := testDir(t)
	for _, qs := range []string{"model.qs", "real.qs"} {
		f, err := Open(filepath.Join(dir, qs))
		if err != nil {
			t.Fatal(err)
		}
		tensors, _ := f.Tensors()
		for _, ti := range tensors {
			if len(ti.Shape) == 0 || ti.Shape[0] < 2 {
				continue
			}
			rows := ti.Shape[0]
			first, count := rows/3, rows-rows/3-1
			high, _ := f.LoadHigh(ti.Index)
			rb := ti.HighBytes / rows
			part, err := f.LoadHighRows(ti.Index, first, count)
			if err != nil || !bytes.Equal(part, high[first*rb:(first+count)*rb]) {
				t.Fatalf("%s: %s: high rows (%v)", qs, ti.Name, err)
			}
			if ti.LowScheme == Int8Row {
				low, _ := f.LoadLow(ti.Index)
				l, err := f.LoadLevelRows(ti.Index, 0, first, count)
				cols := ti.NumElements / rows
				if err != nil || !bytes.Equal(l.CodeBytes(), low.CodeBytes()[first*cols:(first+count)*cols]) ||
					!bytes.Equal(l.ScaleBytes(), low.ScaleBytes()[first*4:(first+count)*4]) {
					t.Fatalf("%s: %s: low rows (%v)", qs, ti.Name, err)
				}
			}
			if _, err := f.LoadHighRows(ti.Index, rows, 1); status(err) != StatusInvalidArgument {
				t.Fatalf("%s: %s: rows past the end: %v", qs, ti.Name, err)
			}
		}
		f.Close()
	}
}
