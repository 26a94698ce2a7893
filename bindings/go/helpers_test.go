package qstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// stTensor is one tensor of a safetensors file.
type stTensor struct {
	Name  string
	Dtype string
	Shape []uint64
	Data  []byte
	begin int
}

// safetensors is a safetensors file read whole: its tensors in data order and its
// __metadata__ in the header's order.
type safetensors struct {
	Tensors  []stTensor
	Metadata [][2]string
	byName   map[string]*stTensor
}

func readSafetensors(t *testing.T, path string) *safetensors {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint64(data[:8]))
	header, body := data[8:8+n], data[8+n:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	st := &safetensors{byName: map[string]*stTensor{}}
	for name, v := range raw {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype       string   `json:"dtype"`
			Shape       []uint64 `json:"shape"`
			DataOffsets [2]int   `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		st.Tensors = append(st.Tensors, stTensor{Name: name, Dtype: e.Dtype, Shape: e.Shape,
			Data: body[e.DataOffsets[0]:e.DataOffsets[1]], begin: e.DataOffsets[0]})
	}
	sort.Slice(st.Tensors, func(i, j int) bool {
		a, b := st.Tensors[i], st.Tensors[j]
		return a.begin < b.begin || (a.begin == b.begin && a.Name < b.Name)
	})
	for i := range st.Tensors {
		st.byName[st.Tensors[i].Name] = &st.Tensors[i]
	}
	st.Metadata = metadataInOrder(t, header)
	return st
}

// metadataInOrder is __metadata__'s string pairs in the order the header lists them.
func metadataInOrder(t *testing.T, header []byte) [][2]string {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(header, &top); err != nil {
		t.Fatal(err)
	}
	m, ok := top["__metadata__"]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(m))
	var out [][2]string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, _ := dec.Token()
		v, _ := dec.Token()
		if s, isStr := v.(string); isStr {
			out = append(out, [2]string{k.(string), s})
		}
	}
	return out
}

// testDir is the folder tests/bindings/prepare.sh filled (QSTORE_TEST_DIR).
func testDir(t *testing.T) string {
	d := os.Getenv("QSTORE_TEST_DIR")
	if d == "" {
		if os.Getenv("QSTORE_TEST_REQUIRE") != "" {
			t.Fatal("QSTORE_TEST_DIR is not set")
		}
		t.Skip("QSTORE_TEST_DIR is not set (tests/bindings/run_go.sh sets it)")
	}
	return d
}

func scratch(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name)
}
