package qstore

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestURLLoadsEqualLocalLoads: nginx on localhost (started by tests/bindings/run_go.sh,
// URL in QSTORE_TEST_URL) serves the prepared files; every tensor of the generated
// model loads the same high and low precision over the URL as from the local file,
// and a missing file (404) is an I/O error naming the URL.
func TestURLLoadsEqualLocalLoads(t *testing.T) {
	dir := testDir(t)
	url := os.Getenv("QSTORE_TEST_URL")
	if url == "" {
		if os.Getenv("QSTORE_TEST_REQUIRE") != "" {
			t.Fatal("QSTORE_TEST_URL is not set")
		}
		t.Skip("QSTORE_TEST_URL is not set (tests/bindings/run_go.sh sets it)")
	}
	local, err := Open(filepath.Join(dir, "model.qs"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	remote, err := OpenURL(url + "model.qs")
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if remote.Len() != local.Len() {
		t.Fatalf("%d tensors over the URL, %d in the file", remote.Len(), local.Len())
	}
	for i := 0; i < local.Len(); i++ {
		wantHigh, err1 := local.LoadHigh(i)
		gotHigh, err2 := remote.LoadHigh(i)
		wantLow, err3 := local.LoadLow(i)
		gotLow, err4 := remote.LoadLow(i)
		for _, e := range []error{err1, err2, err3, err4} {
			if e != nil {
				t.Fatalf("tensor %d: %v", i, e)
			}
		}
		if !bytes.Equal(gotHigh, wantHigh) || gotLow.Kind != wantLow.Kind ||
			!reflect.DeepEqual(levelBytes(gotLow), levelBytes(wantLow)) {
			t.Fatalf("tensor %d differs over the URL", i)
		}
	}
	missing := url + "absent.qs"
	if _, err := OpenURL(missing); status(err) != StatusIO || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing URL: %v", err)
	}
}
