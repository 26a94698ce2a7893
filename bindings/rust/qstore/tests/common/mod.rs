// Test helpers: a small safetensors reader (8-byte header length, JSON header, data)
// with a minimal JSON parser, and the files the test script prepared.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] as char).is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(self.s[self.i], c, "JSON: expected '{}' at {}", c as char, self.i);
        self.i += 1;
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'u' => {
                            let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                            self.i += 4;
                            let mut cp = u32::from_str_radix(hex, 16).unwrap();
                            if (0xD800..0xDC00).contains(&cp) {
                                let lo = std::str::from_utf8(&self.s[self.i + 2..self.i + 6]).unwrap();
                                self.i += 6;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (u32::from_str_radix(lo, 16).unwrap() - 0xDC00);
                            }
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(char::from_u32(cp).unwrap().encode_utf8(&mut buf).as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return Json::Obj(fields);
                }
                loop {
                    let k = self.string();
                    self.eat(b':');
                    fields.push((k, self.value()));
                    self.ws();
                    self.i += 1;
                    if self.s[self.i - 1] == b'}' {
                        return Json::Obj(fields);
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return Json::Arr(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    self.i += 1;
                    if self.s[self.i - 1] == b']' {
                        return Json::Arr(items);
                    }
                }
            }
            b'"' => Json::Str(self.string()),
            b't' => {
                self.i += 4;
                Json::Bool(true)
            }
            b'f' => {
                self.i += 5;
                Json::Bool(false)
            }
            b'n' => {
                self.i += 4;
                Json::Null
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                Json::Num(std::str::from_utf8(&self.s[start..self.i]).unwrap().parse().unwrap())
            }
        }
    }
}

pub fn parse_json(s: &[u8]) -> Json {
    Parser { s, i: 0 }.value()
}

#[derive(Clone, Debug)]
pub struct StTensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    pub begin: usize,
    pub end: usize,
}

/// A safetensors file read whole.
pub struct Safetensors {
    pub tensors: Vec<StTensor>,
    pub metadata: Vec<(String, String)>,
    data: Vec<u8>,
    data_start: usize,
}

fn num(j: &Json) -> u64 {
    match j {
        Json::Num(n) => *n as u64,
        other => panic!("not a number: {:?}", other),
    }
}

impl Safetensors {
    pub fn read(path: &std::path::Path) -> Safetensors {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
        let n = u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
        let header = parse_json(&data[8..8 + n]);
        let mut tensors = Vec::new();
        let mut metadata = Vec::new();
        let fields = match header {
            Json::Obj(f) => f,
            other => panic!("header is not an object: {:?}", other),
        };
        for (name, v) in fields {
            let f = match v {
                Json::Obj(f) => f,
                other => panic!("{}: not an object: {:?}", name, other),
            };
            let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if name == "__metadata__" {
                for (k, v) in &f {
                    if let Json::Str(s) = v {
                        metadata.push((k.clone(), s.clone()));
                    }
                }
                continue;
            }
            let dtype = match get("dtype") {
                Some(Json::Str(s)) => s,
                other => panic!("{}: dtype {:?}", name, other),
            };
            let shape = match get("shape") {
                Some(Json::Arr(a)) => a.iter().map(num).collect(),
                other => panic!("{}: shape {:?}", name, other),
            };
            let offs = match get("data_offsets") {
                Some(Json::Arr(a)) => (num(&a[0]) as usize, num(&a[1]) as usize),
                other => panic!("{}: data_offsets {:?}", name, other),
            };
            tensors.push(StTensor { name, dtype, shape, begin: offs.0, end: offs.1 });
        }
        tensors.sort_by(|a, b| (a.begin, &a.name).cmp(&(b.begin, &b.name)));
        Safetensors { tensors, metadata, data, data_start: 8 + n }
    }

    pub fn get(&self, name: &str) -> Option<&StTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    pub fn bytes(&self, t: &StTensor) -> &[u8] {
        &self.data[self.data_start + t.begin..self.data_start + t.end]
    }

    pub fn by_name(&self) -> BTreeMap<String, StTensor> {
        self.tensors.iter().map(|t| (t.name.clone(), t.clone())).collect()
    }
}

/// The folder of files prepared by tests/bindings/run_rust.sh (QSTORE_TEST_DIR): for
/// each case NAME (model: generated, real: a shared model), NAME.safetensors, NAME.qs
/// (int8-row, coded), NAME-raw.qs (--low-raw), NAME-low.safetensors (unpack --precision
/// low). None when the variable is unset, unless QSTORE_TEST_REQUIRE=1 (CI) says the
/// files must be there.
pub fn test_dir() -> Option<PathBuf> {
    match std::env::var("QSTORE_TEST_DIR") {
        Ok(d) => Some(PathBuf::from(d)),
        Err(_) => {
            assert!(std::env::var("QSTORE_TEST_REQUIRE").is_err(), "QSTORE_TEST_DIR is not set");
            eprintln!("SKIPPED: QSTORE_TEST_DIR is not set (tests/bindings/run_rust.sh sets it)");
            None
        }
    }
}
