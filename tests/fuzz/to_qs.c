/* Turns a fuzzer input (mode byte + file) into a plain .qs file, applying the same
 * checksum fix-up as fuzz_reader.cpp when the mode asks for it (bit 1; bit 2 = also
 * set header.file_size), so that `qstore verify FILE.qs` reproduces a finding.
 * Build: cc -O1 -o to_qs tests/fuzz/to_qs.c -lxxhash
 * Usage: to_qs INPUT OUTPUT.qs   (prints the mode: checksums on/off) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

static uint64_t ld(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void st64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (8 * i));
}

int main(int argc, char** argv) {
    if (argc != 3) { fprintf(stderr, "usage: to_qs INPUT OUTPUT.qs\n"); return 2; }
    FILE* in = fopen(argv[1], "rb");
    if (!in) { perror(argv[1]); return 1; }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    if (n < 1) return 1;
    uint8_t mode = buf[0];
    uint8_t* f = buf + 1;
    size_t size = n - 1;
    if ((mode & 2) && size >= 64) {
        if (mode & 4) st64(f + 16, size);
        uint64_t dir_off = ld(f + 24, 8), dir_count = ld(f + 32, 4);
        if (dir_count <= 4096 && dir_off <= size && dir_count * 48 + 8 <= size - dir_off) {
            uint8_t* d = f + dir_off;
            for (uint64_t i = 0; i < dir_count; ++i) {
                uint8_t* e = d + 48 * i;
                uint64_t off = ld(e + 16, 8), sz = ld(e + 24, 8);
                if (off <= size && sz <= size - off) st64(e + 40, XXH3_64bits(f + off, sz));
            }
            st64(d + 48 * dir_count, XXH3_64bits(d, 48 * dir_count));
        }
        st64(f + 56, XXH3_64bits(f, 56));
    }
    FILE* out = fopen(argv[2], "wb");
    if (!out || fwrite(f, 1, size, out) != size) { perror(argv[2]); return 1; }
    fclose(out);
    printf("mode 0x%02x: open with verify_checksums = %d\n", mode, mode & 1);
    return 0;
}
